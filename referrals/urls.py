from django.urls import path

from referrals import views

app_name = "referrals"

urlpatterns = [
    path("", views.referral_list, name="list"),
    path("new/", views.referral_new, name="new"),
    path("<uuid:public_id>/", views.referral_detail, name="detail"),
    path("<uuid:public_id>/edit/", views.referral_edit, name="edit"),
    path("<uuid:public_id>/act/", views.referral_act, name="act"),
    path("<uuid:public_id>/status/", views.referral_status, name="status"),
    path("<uuid:public_id>/route/", views.referral_route_by_hand, name="route"),
    path("<uuid:public_id>/triage/", views.referral_triage_panel, name="triage_panel"),
    path("<uuid:public_id>/escalate/", views.referral_escalate_view, name="escalate"),
]
