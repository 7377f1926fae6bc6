from django.urls import path

from services.api import views

app_name = "directory-api"

urlpatterns = [
    path("districts/", views.DistrictList.as_view(), name="districts"),
    path("units/", views.UnitList.as_view(), name="units"),
    path("directory/hsds/", views.HsdsExport.as_view(), name="hsds"),
]
