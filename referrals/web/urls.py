"""Every page of referrals, by area; each list keeps its URL namespace (``referrals:``,
``notifications:``, ``dashboard:``, ``queue:``, ``inbox:``, ``privacy:``), mounted in
``portal/urls.py``."""

from django.urls import path

from referrals.web import (
    action_views,
    caseload_views,
    dashboard_views,
    form_views,
    matching_views,
    notice_views,
    notification_views,
    privacy_views,
    queue_views,
    route_views,
    task_views,
    transfer_views,
    views,
)

referral_patterns = [
    path("", views.referral_list, name="list"),
    path("new/", form_views.referral_new, name="new"),
    path("new/sub-districts/", form_views.referral_sub_districts, name="sub_districts"),
    path("<uuid:public_id>/", views.referral_detail, name="detail"),
    path("<uuid:public_id>/edit/", form_views.referral_edit, name="edit"),
    path("<uuid:public_id>/check/", form_views.referral_check, name="check"),
    path("<uuid:public_id>/filed/", form_views.referral_filed, name="filed"),
    path("<uuid:public_id>/act/", action_views.referral_act, name="act"),
    path("<uuid:public_id>/note/", action_views.referral_note_view, name="note"),
    path("<uuid:public_id>/status/", views.referral_status, name="status"),
    path("<uuid:public_id>/route/", route_views.referral_route_by_hand, name="route"),
    path("<uuid:public_id>/triage/", route_views.referral_triage_panel, name="triage_panel"),
    path("<uuid:public_id>/escalate/", views.referral_escalate_view, name="escalate"),
    path("<uuid:public_id>/contact/", notice_views.referral_contact_view, name="contact"),
    path("<uuid:public_id>/lead/", task_views.referral_lead_view, name="lead"),
    path("<uuid:public_id>/message/", task_views.referral_message_view, name="message"),
    # Case owners (issue 17): allocation, the unit's caseload, my cases, the shared contact.
    path("allocate/", caseload_views.allocate_view, name="allocate"),
    path("caseload/", caseload_views.caseload_page, name="caseload"),
    path("caseload/<int:unit_id>/", caseload_views.caseload_page, name="unit_caseload"),
    path("my-cases/", caseload_views.my_cases_page, name="my_cases"),
    path(
        "<uuid:public_id>/share-contact/",
        caseload_views.share_contact_view,
        name="share_contact",
    ),
    # Pre-primary matching (issue 17): teams' loads, hot spots, re-matching as transfer plans.
    path("matching/", matching_views.matching, name="matching"),
    # Planned transfers (issue 17): the plans, a plan's cases, the receiving unit's answers.
    path("transfers/", transfer_views.transfer_list, name="transfer_list"),
    path("transfers/new/", transfer_views.transfer_new, name="transfer_new"),
    path("transfers/incoming/", transfer_views.transfers_incoming, name="transfers_incoming"),
    path("transfers/answer/", transfer_views.transfer_answer, name="transfer_answer"),
    path("transfers/<uuid:public_id>/", transfer_views.transfer_detail, name="transfer_detail"),
    path(
        "transfers/<uuid:public_id>/family-informed/",
        transfer_views.transfer_family_informed,
        name="transfer_family_informed",
    ),
    path("transfers/<uuid:public_id>/run/", transfer_views.transfer_run, name="transfer_run"),
    path(
        "transfers/<uuid:public_id>/cancel/",
        transfer_views.transfer_cancel,
        name="transfer_cancel",
    ),
    path("transfers/cases/<int:pk>/", transfer_views.transfer_case_edit, name="transfer_case_edit"),
    path(
        "transfers/cases/<int:pk>/remove/",
        transfer_views.transfer_case_remove,
        name="transfer_case_remove",
    ),
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
