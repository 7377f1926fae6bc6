from django.urls import path

from accounts import two_factor_views

app_name = "two_factor"

urlpatterns = [
    path("security/", two_factor_views.security, name="security"),
    path("two-factor/verify/", two_factor_views.verify, name="verify"),
    path("two-factor/setup/", two_factor_views.setup, name="setup"),
    path("two-factor/disable/", two_factor_views.disable, name="disable"),
]
