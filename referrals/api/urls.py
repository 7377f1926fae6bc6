from django.urls import path

from referrals.api import views

app_name = "api"

urlpatterns = [
    path("webhooks/", views.WebhookEndpointList.as_view(), name="webhook-list"),
    path("webhooks/<int:pk>/", views.WebhookEndpointDetail.as_view(), name="webhook-detail"),
    path("referrals/", views.ReferralList.as_view(), name="referral-list"),
    path("referrals/<str:reference>/", views.ReferralDetail.as_view(), name="referral-detail"),
    path("referrals/<str:reference>/accept", views.AcceptReferral.as_view(), name="accept"),
    path("referrals/<str:reference>/decline", views.DeclineReferral.as_view(), name="decline"),
    path("referrals/<str:reference>/status", views.UpdateReferralStatus.as_view(), name="status"),
]
