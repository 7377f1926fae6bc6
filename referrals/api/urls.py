from django.urls import path

from referrals.api import views

app_name = "api"

urlpatterns = [
    path("referrals/", views.ReferralList.as_view(), name="referral-list"),
    path("referrals/<str:reference>/", views.ReferralDetail.as_view(), name="referral-detail"),
]
