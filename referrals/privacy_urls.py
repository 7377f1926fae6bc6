from django.urls import path

from referrals import privacy_views

app_name = "privacy"

urlpatterns = [
    path("", privacy_views.privacy_notice, name="notice"),
    path("access-request/", privacy_views.access_request, name="access_request"),
    path(
        "referrals/<uuid:public_id>/withdraw-consent/",
        privacy_views.withdraw_consent,
        name="withdraw_consent",
    ),
]
