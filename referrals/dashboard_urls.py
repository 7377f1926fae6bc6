from django.urls import path

from referrals import dashboard_views

app_name = "dashboard"

urlpatterns = [
    path("", dashboard_views.dashboard_index, name="index"),
    path("export.csv", dashboard_views.dashboard_export, name="export"),
]
