from django.urls import path, register_converter

from referrals.api import notices, transfers, views


class ReferenceConverter:
    """A reference's own characters only: anything else (``%00``, which PostgreSQL refuses
    in text) is the API's JSON 404 before a query is made (issue 14 item 4)."""

    regex = "[A-Za-z0-9-]{1,40}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ReferenceConverter, "ref")

app_name = "api"

urlpatterns = [
    path("webhooks/", views.WebhookEndpointList.as_view(), name="webhook-list"),
    path("webhooks/<int:pk>/", views.WebhookEndpointDetail.as_view(), name="webhook-detail"),
    path("notices/", notices.NoticeList.as_view(), name="notice-list"),
    path("referrals/", views.ReferralList.as_view(), name="referral-list"),
    path("referrals/<ref:reference>/", views.ReferralDetail.as_view(), name="referral-detail"),
    path("referrals/<ref:reference>/accept", views.AcceptReferral.as_view(), name="accept"),
    path("referrals/<ref:reference>/decline", views.DeclineReferral.as_view(), name="decline"),
    path("referrals/<ref:reference>/status", views.UpdateReferralStatus.as_view(), name="status"),
    path("transfers/", transfers.TransferList.as_view(), name="transfer-list"),
    path("transfers/<int:pk>/", transfers.TransferDetail.as_view(), name="transfer-detail"),
]
