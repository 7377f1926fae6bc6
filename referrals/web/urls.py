"""Every page of referrals, by area; each list keeps its URL namespace (``referrals:``,
``notifications:``, ``dashboard:``, ``queue:``, ``inbox:``, ``privacy:``), mounted in
``portal/urls.py``."""

from django.urls import path

from referrals.web import (
    dashboard_views,
    notice_views,
    notification_views,
    privacy_views,
    queue_views,
    task_views,
    views,
)

referral_patterns = [
    path("", views.referral_list, name="list"),
    path("new/", views.referral_new, name="new"),
    path("<uuid:public_id>/", views.referral_detail, name="detail"),
    path("<uuid:public_id>/edit/", views.referral_edit, name="edit"),
    path("<uuid:public_id>/act/", views.referral_act, name="act"),
    path("<uuid:public_id>/status/", views.referral_status, name="status"),
    path("<uuid:public_id>/route/", views.referral_route_by_hand, name="route"),
    path("<uuid:public_id>/triage/", views.referral_triage_panel, name="triage_panel"),
    path("<uuid:public_id>/escalate/", views.referral_escalate_view, name="escalate"),
    path("<uuid:public_id>/contact/", notice_views.referral_contact_view, name="contact"),
    path("<uuid:public_id>/lead/", task_views.referral_lead_view, name="lead"),
    path("<uuid:public_id>/message/", task_views.referral_message_view, name="message"),
]

notification_patterns = [
    path("", notification_views.notification_list, name="list"),
    path("<int:pk>/open/", notification_views.notification_open, name="open"),
    path("read-all/", notification_views.notification_read_all, name="read_all"),
]

dashboard_patterns = [
    path("", dashboard_views.dashboard_index, name="index"),
    path("export.csv", dashboard_views.dashboard_export, name="export"),
]

queue_patterns = [
    path("", queue_views.queue, name="index"),
    path("bulk/", queue_views.queue_bulk, name="bulk"),
]

inbox_patterns = [path("", queue_views.unit_inbox, name="index")]

privacy_patterns = [
    path("", privacy_views.privacy_notice, name="notice"),
    path("access-request/", privacy_views.access_request, name="access_request"),
    path(
        "referrals/<uuid:public_id>/withdraw-consent/",
        privacy_views.withdraw_consent,
        name="withdraw_consent",
    ),
]
