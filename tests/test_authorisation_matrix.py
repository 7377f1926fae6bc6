"""The authorisation matrix: every URL pattern of the project, every persona, every method
the route serves, and the answer each must get.

The routes are read from the URL resolver (included URLconfs, the admin, the API), never
listed by hand, so an endpoint added without a rule in ``MATRIX`` (or, for the admin, a
view that is not one of the standard model-admin views) fails
``test_every_url_pattern_has_a_rule``, which names it.

How to read the matrix. Each route maps each method to {persona: expected answer}, built by
a rule with the house defaults so that only the exceptions are spelled out:

* ``page(...)``: an HTML page behind the login. Anonymous callers and partner systems (a
  bearer token means nothing to a page) are sent to ``/login/?next=…``; signed-in people
  get ``people`` unless named.
* ``api(...)``: under ``/api/v1/``. No token is a 401; a partner token without the route's
  scope is a 403 (persona ``partner_a_unscoped``, which exists for API routes only).
* ``public(...)``: no login needed.
* The admin (``admin_rule``): everyone but the administrator is sent to the admin's login.

An answer is a status code, ``Redirect(to)`` (a 302 whose ``Location`` path is that page;
``LOGIN`` and ``ADMIN_LOGIN`` carry ``?next=`` back to the request) or ``Changed(answer)``.
For POST and DELETE the database is compared before and after: ``Changed`` means the
request did its work, any other answer means nothing may have changed (a refused request
never leaves a trace, e.g. the referral's ``version`` stays put).

The data is built once per module (inside a transaction rolled back at the end) and every
test runs in a savepoint of its own, so the requests that succeed change nothing for the
next one.
"""

import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from axes.models import AccessLog as AxesAccessLog
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.test import Client, RequestFactory, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider.models import AccessToken, Grant, IDToken, RefreshToken

from accounts.models import Membership
from outreach.models import Estate, Household, Person, Visit, VisitList
from referrals.models import (
    HANDOVER_TEMPLATE,
    AccessLog,
    ApiIntake,
    Delivery,
    Notification,
    OfficeClosure,
    ReferenceSequence,
    Referral,
    ReferralEvent,
    ReferralTask,
    TransferCase,
    TransferPlan,
    UrgentNotice,
    WebhookEndpoint,
)
from services.models import Institution, ServiceUnit
from tests import factories
from tests.referrals.partners import SECRET, partner_client, token_for

# --- Personas ------------------------------------------------------------------------------

PEOPLE = (
    "referrer",
    "own_unit_worker",
    "other_unit_worker",
    "own_district_officer",
    "other_district_officer",
    "admin",
)
# Partner A runs the referral's lead unit (the IFSC); partner B runs an unrelated unit; partner
# C runs a unit holding one part of the same referral (issue 16: two organisations sharing
# one referral, each seeing it through its own task), and may send urgent notices.
PARTNERS = ("partner_a", "partner_b", "partner_c")
PERSONAS = ("anonymous", *PEOPLE, *PARTNERS)
UNSCOPED = "partner_a_unscoped"  # partner A's token lacking the route's scope; API routes only

# --- Expected answers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Redirect:
    """A 302 to the page named ``to`` (a route name; its parameters are filled like the
    request's); ``back``: with ``?next=`` pointing at the request (the login pages)."""

    to: str
    back: bool = False
    status: int = 302

    def __str__(self) -> str:
        return f"{self.status}→{self.to}"


@dataclass(frozen=True)
class Changed:
    """The request is allowed and does its work: this answer, and the database changed."""

    answer: "int | Redirect"

    def __str__(self) -> str:
        return f"{self.answer} (changed)"


LOGIN = Redirect("login", back=True)
ADMIN_LOGIN = Redirect("admin:login", back=True)
Answer = int | Redirect | Changed


def page(people: Answer = 200, **personas: Answer) -> dict[str, Answer]:
    rule = dict.fromkeys(("anonymous", *PARTNERS), LOGIN)
    rule |= dict.fromkeys(PEOPLE, people)
    return rule | personas


def api(*, people: Answer, partners: Answer, **personas: Answer) -> dict[str, Answer]:
    rule: dict[str, Answer] = {"anonymous": 401, UNSCOPED: 403}
    rule |= dict.fromkeys(PEOPLE, people)
    rule |= dict.fromkeys(PARTNERS, partners)
    return rule | personas


def public(everyone: Answer = 200, **personas: Answer) -> dict[str, Answer]:
    return dict.fromkeys(PERSONAS, everyone) | personas


# Who may see the referral (assigned to the IFSC, filed by the referrer, in Sham Shui Po):
# the referrer, the IFSC's staff, the Sham Shui Po office and the administrator. The other
# unit's worker and the Kwun Tong officer get a 404 on every referral URL.
OUTSIDERS = {"other_unit_worker": 404, "other_district_officer": 404}
OFFICE_ONLY = {"referrer": 404, "own_unit_worker": 404, **OUTSIDERS}
NOT_OFFICERS = {"referrer": 404, "own_unit_worker": 404, "other_unit_worker": 404}
UNIT_WORKERS = {"own_unit_worker": 404, "other_unit_worker": 404}
# A transfer plan's steps: the office that made it (or headquarters); a 404 for anyone else.
PLANNER_CHANGES = page(
    404,
    own_district_officer=Changed(Redirect("referrals:transfer_detail")),
    admin=Changed(Redirect("referrals:transfer_detail")),
)

# A visit list's pages: its office (or headquarters); a 404 for anyone else.
LIST_OFFICE = page(404, own_district_officer=200, admin=200)
LIST_OFFICE_CHANGES = page(
    404,
    own_district_officer=Changed(Redirect("outreach:list_detail")),
    admin=Changed(Redirect("outreach:list_detail")),
)

# route name → method → persona → answer
MATRIX: dict[str, dict[str, dict[str, Answer]]] = {
    "home": {"GET": page()},
    "healthz": {"GET": public()},
    "favicon": {"GET": public()},
    # A person's own password; an empty form is shown again with its errors, nothing changed
    # (tests/accounts/test_password_change.py has the change).
    "password_change": {"GET": page(), "POST": page()},
    "password_change_done": {"GET": page()},
    "login": {
        "GET": public(**dict.fromkeys(PEOPLE, Redirect("home"))),
        "POST": public(**dict.fromkeys(PEOPLE, Redirect("home"))),  # empty form: shown again
    },
    "logout": {"GET": public(405), "POST": public(Redirect("login"))},
    # --- Two-factor pages (a signed-in test person has an authenticator and a verified
    # session: tests/conftest.py's force_login)
    # A POST makes new backup codes for someone with an authenticator (the matrix's sessions
    # are verified without one; tests/accounts/test_two_factor_recovery.py has the change).
    "two_factor:security": {"GET": page(), "POST": page()},
    "two_factor:verify": {  # already verified: back home
        "GET": page(Redirect("home")),
        "POST": page(Redirect("home")),
    },
    "two_factor:setup": {  # an authenticator already set up: to the security page
        "GET": page(Redirect("two_factor:security")),
        "POST": page(Redirect("two_factor:security")),
    },
    "two_factor:disable": {  # optional for referrers and unit staff, required for the rest
        "POST": page(
            Redirect("two_factor:security"),
            referrer=Changed(Redirect("two_factor:security")),
            own_unit_worker=Changed(Redirect("two_factor:security")),
            other_unit_worker=Changed(Redirect("two_factor:security")),
        )
    },
    "set_language": {"POST": public(Redirect("home"))},
    "directory": {"GET": page()},
    # --- Referral pages
    "referrals:list": {  # each sees their own visibility; a search is posted (item 9)
        "GET": page(),
        "POST": page(Redirect("referrals:list")),
    },
    "referrals:new": {
        "GET": page(403, referrer=200),  # only caring-team members file referrals
        "POST": page(403, referrer=400),  # an empty form: errors, nothing saved
    },
    # The form's sub-district options for a district (issue 20; no district asked: only
    # "whole district"), under the form's own rule.
    "referrals:sub_districts": {"GET": page(403, referrer=200)},
    "referrals:detail": {"GET": page(200, **OUTSIDERS)},
    "referrals:edit": {  # the referrer's draft: nobody else's business, the admin's neither
        "GET": page(404, referrer=200),
        "POST": page(404, referrer=400),
    },
    "referrals:check": {  # "check your answers" of the referrer's draft (issue 19)
        "GET": page(404, referrer=200),
        "POST": page(404, referrer=400),  # no version: nothing filed
    },
    "referrals:filed": {"GET": page(404, referrer=200)},  # the referrer's confirmation
    "referrals:act": {  # action "accept": the assigned unit's step
        "POST": page(
            404,  # not theirs to take: answered as "not found" (referrals/web/errors.py)
            own_unit_worker=Changed(Redirect("referrals:detail")),
            **OUTSIDERS,
        )
    },
    "referrals:status": {"GET": page(200, **OUTSIDERS)},
    "referrals:route": {
        "POST": page(
            Changed(Redirect("referrals:detail")),
            **OFFICE_ONLY,
        )
    },
    "referrals:triage_panel": {"GET": page(200, **OFFICE_ONLY)},
    "referrals:escalate": {"POST": page(Changed(Redirect("referrals:detail")), **OFFICE_ONLY)},
    "referrals:note": {  # a case note (issue 19): those who read case notes; not the referrer
        "POST": page(
            404,
            own_unit_worker=Changed(Redirect("referrals:detail")),
            own_district_officer=Changed(Redirect("referrals:detail")),
            admin=Changed(Redirect("referrals:detail")),
        )
    },
    "referrals:lead": {  # the office makes partner C's unit the lead
        "POST": page(
            Changed(Redirect("referrals:detail")),
            referrer=404,
            own_unit_worker=404,
            **OUTSIDERS,
        )
    },
    "referrals:message": {  # the units on the referral write to each other; nobody else
        "POST": page(404, own_unit_worker=Changed(Redirect("referrals:detail")), **OUTSIDERS)
    },
    "referrals:contact": {  # a try to reach the person of the notice: the unit holding a task
        "POST": page(404, own_unit_worker=Changed(Redirect("referrals:detail")), **OUTSIDERS)
    },
    # --- Case owners (issue 17): allocation is the unit's supervisor's (or headquarters')
    "referrals:allocate": {"POST": page(404, admin=Changed(Redirect("referrals:caseload")))},
    "referrals:caseload": {"GET": page(404)},  # the matrix has no supervisor: nobody's page
    "referrals:unit_caseload": {"GET": page(404, admin=200)},
    "referrals:my_cases": {"GET": page(404, own_unit_worker=200, other_unit_worker=200)},
    "referrals:share_contact": {  # the unit holding the task tells the referrer whom to call
        "POST": page(404, own_unit_worker=Changed(Redirect("referrals:detail")))
    },
    # --- Transfers (issue 17): the office plans unit to unit; the receiving unit answers
    "referrals:transfer_list": {"GET": page(200, referrer=404, **UNIT_WORKERS)},
    "referrals:transfer_new": {
        "GET": page(200, referrer=404, **UNIT_WORKERS),
        "POST": page(200, referrer=404, **UNIT_WORKERS),  # an empty form: shown again
    },
    "referrals:transfer_detail": {"GET": page(404, own_district_officer=200, admin=200)},
    "referrals:transfer_family_informed": {"POST": PLANNER_CHANGES},
    "referrals:transfer_case_edit": {"POST": PLANNER_CHANGES},
    "referrals:transfer_case_remove": {"POST": PLANNER_CHANGES},
    "referrals:transfer_cancel": {"POST": PLANNER_CHANGES},
    "referrals:transfer_run": {  # the template's note still blocks it: told so, nothing moves
        "POST": page(
            404,
            own_district_officer=Redirect("referrals:transfer_detail"),
            admin=Redirect("referrals:transfer_detail"),
        )
    },
    "referrals:transfers_incoming": {"GET": page(404, own_unit_worker=200, other_unit_worker=200)},
    "referrals:transfer_answer": {  # the case has not moved yet: nothing to accept
        "POST": page(404, other_unit_worker=Redirect("referrals:transfers_incoming"))
    },
    # --- Pre-primary institutions matched to teams: the office's page
    "referrals:matching": {"GET": page(200, **NOT_OFFICERS), "POST": page(400, **NOT_OFFICERS)},
    # --- Notifications: the referrer's own
    "notifications:list": {"GET": page()},
    "notifications:open": {
        "POST": page(404, referrer=Changed(Redirect("referrals:detail"))),
    },
    "notifications:read_all": {
        "POST": page(
            Redirect("notifications:list"),
            referrer=Changed(Redirect("notifications:list")),
        )
    },
    # --- District office pages: officers (any office: their own districts) and headquarters
    "dashboard:index": {"GET": page(200, **NOT_OFFICERS)},
    "dashboard:export": {"GET": page(200, **NOT_OFFICERS)},
    "queue:index": {
        "GET": page(200, **NOT_OFFICERS),
        "POST": page(Redirect("queue:index"), **NOT_OFFICERS),  # a search (item 9)
    },
    "queue:bulk": {  # escalate the referral: only its own office (or HQ) can
        "POST": page(
            Changed(Redirect("queue:index")),
            other_district_officer=Redirect("queue:index"),  # "not in your districts"
            **NOT_OFFICERS,
        )
    },
    # --- The unit's inbox: unit staff only (the administrator works no unit)
    "inbox:index": {"GET": page(404, own_unit_worker=200, other_unit_worker=200)},
    # --- Privacy: the collection statement is public; access requests are headquarters' work
    "privacy:notice": {"GET": public()},
    "privacy:access_request": {
        "GET": page(404, admin=200),
        "POST": page(404, admin=400),  # no search criteria: the form again
    },
    "privacy:withdraw_consent": {  # whoever may see the referral records a withdrawal
        "POST": page(Changed(Redirect("referrals:detail")), **OUTSIDERS)
    },
    # --- OAuth2: partners authenticate with their client id and secret
    "oauth2_token": {
        "POST": public(401, partner_a=Changed(200), partner_b=Changed(200), partner_c=Changed(200))
    },
    "oauth2_revoke": {  # partner A's token: only A can revoke it; B is told 200, as RFC 7009 says
        "POST": public(401, partner_a=Changed(200), partner_b=200, partner_c=200)
    },
    # --- Partner API: referrals
    "api:referral-list": {
        "GET": api(people=200, partners=200),  # each with their own visibility
        # Intake: clients with a "files as" team only (C has one: the empty body is a 400).
        "POST": api(people=403, partners=403, partner_c=400),
    },
    # Urgent notices: clients with the notices:write scope and a "files as" team (C).
    "api:notice-list": {"POST": api(people=403, partners=403, partner_c=400)},
    "api:referral-detail": {"GET": api(people=200, partners=200, partner_b=404, **OUTSIDERS)},
    # Each unit's step acts on its own task: partner C accepts or declines its part.
    "api:accept": {
        "POST": api(
            people=404,
            partners=404,
            own_unit_worker=Changed(200),
            partner_a=Changed(200),
            partner_c=Changed(200),
        )
    },
    "api:decline": {
        "POST": api(
            people=404,
            partners=404,
            own_unit_worker=Changed(200),
            partner_a=Changed(200),
            partner_c=Changed(200),
        )
    },
    "api:status": {  # "in_progress" for an assigned referral: allowed actor, illegal step
        "POST": api(people=404, partners=404, own_unit_worker=400, partner_a=400, partner_c=400)
    },
    # --- Partner API: the organisation's webhook endpoints (partner tokens only)
    "api:webhook-list": {
        "GET": api(people=403, partners=200),
        "POST": api(people=403, partners=Changed(201)),
    },
    "api:webhook-detail": {  # partner A's endpoint
        "GET": api(people=403, partners=200, partner_b=404, partner_c=404),
        "DELETE": api(people=403, partners=Changed(204), partner_b=404, partner_c=404),
    },
    # --- Partner API: transfers of the organisation's cases (A sends the case, B receives)
    "api:transfer-list": {"GET": api(people=403, partners=200)},
    "api:transfer-detail": {"GET": api(people=403, partners=200, partner_c=404)},
    # --- Outreach (issue 18): the office's visit lists, the caring team's visits. The list
    # is the Sham Shui Po office's; its household is care team F01's (the referrer's).
    "outreach:home": {
        "GET": page(
            Redirect("outreach:lists"),
            referrer=Redirect("outreach:team_list"),
            **dict.fromkeys(UNIT_WORKERS, 403),
        )
    },
    "outreach:lists": {"GET": page(200, referrer=404, **UNIT_WORKERS)},
    "outreach:list_create": {  # an empty form: errors, nothing saved
        "GET": page(200, referrer=404, **UNIT_WORKERS),
        "POST": page(400, referrer=404, **UNIT_WORKERS),
    },
    "outreach:list_detail": {"GET": LIST_OFFICE},
    "outreach:list_import": {
        "GET": LIST_OFFICE,
        "POST": page(404, own_district_officer=400, admin=400),
    },
    "outreach:households_move": {"POST": LIST_OFFICE_CHANGES},
    "outreach:household_priority": {
        "POST": page(
            404,
            own_district_officer=Changed(Redirect("outreach:household")),
            admin=Changed(Redirect("outreach:household")),
        )
    },
    "outreach:team_list": {  # the member's own team; nobody else has one to show
        "GET": page(404, referrer=200)
    },
    "outreach:team_list_of": {"GET": page(200, **(OUTSIDERS | UNIT_WORKERS))},
    "outreach:household": {"GET": page(200, **(OUTSIDERS | UNIT_WORKERS))},
    "outreach:visit_new": {  # the team's own members record visits; an empty form is refused
        "GET": page(404, referrer=200),
        "POST": page(404, referrer=400),
    },
    "outreach:reopen": {  # the household is open: told so, nothing changes
        "POST": page(
            404,
            own_district_officer=Redirect("outreach:household"),
            admin=Redirect("outreach:household"),
        )
    },
    "outreach:visit_refer": {  # the team's member: to the new draft referral, pre-filled
        "POST": page(404, referrer=Changed(302))
    },
    "outreach:figures": {"GET": page(200, **UNIT_WORKERS)},
    "outreach:figures_export": {"GET": page(200, **UNIT_WORKERS)},
    "outreach-households": {  # only the list's loading system (partner A); people: a 404
        "POST": api(people=404, partners=404, partner_a=Changed(201))
    },
    # --- Partner API: the directory (no personal data; any signed-in person too)
    "directory-api:districts": {"GET": api(people=200, partners=200)},
    "directory-api:units": {"GET": api(people=200, partners=200)},
    "directory-api:hsds": {"GET": api(people=200, partners=200)},
    # --- The API's description is public
    "api-schema": {"GET": public()},
    "api-docs": {"GET": public()},
}


# --- The admin -----------------------------------------------------------------------------

# Models the admin shows read-only (``ReadOnlyAdminMixin``): no add, change or delete.
READ_ONLY_IN_ADMIN = {
    "referrals.referral",
    "referrals.urgentnotice",
    "referrals.accesslog",
    "referrals.apiintake",
    "referrals.referencesequence",
    "referrals.notification",
    "referrals.delivery",
    "referrals.transferplan",
    "outreach.household",
    "outreach.visit",
}
# Access and refresh tokens: revoked through the API, never deleted in the admin.
NO_DELETE_IN_ADMIN = READ_ONLY_IN_ADMIN | {
    "oauth2_provider.accesstoken",
    "oauth2_provider.refreshtoken",
}
# Models the admin lists, changes and deletes but never adds (django-axes' logs, the OAuth2
# tokens and grants, which only the token endpoint issues).
NO_ADD_IN_ADMIN = READ_ONLY_IN_ADMIN | {
    "oauth2_provider.accesstoken",
    "oauth2_provider.grant",
    "oauth2_provider.idtoken",
    "oauth2_provider.refreshtoken",
    "axes.accessattempt",
    "axes.accesslog",
    "axes.accessfailurelog",
}


def admin_only(answer: Answer | None) -> dict[str, Answer]:
    """Everyone but the administrator to the admin's login; ``None``: not asked."""
    rule = dict.fromkeys(PERSONAS, ADMIN_LOGIN) | {"admin": answer}
    return {persona: answer for persona, answer in rule.items() if answer is not None}


# The admin site's own views and the extra views some model admins add.
ADMIN_SITE_MATRIX: dict[str, dict[str, dict[str, Answer]]] = {
    "admin:index": {"GET": admin_only(200)},
    "admin:login": {  # a signed-in person without staff rights is shown the form again
        "GET": public(200, admin=Redirect("admin:index")),
    },
    "admin:logout": {  # whoever is not signed in to the admin is sent to its index
        "GET": public(Redirect("admin:index"), admin=405),
        "POST": public(Redirect("admin:index"), admin=Redirect("login")),
    },
    "admin:password_change": {"GET": admin_only(200)},
    "admin:password_change_done": {"GET": admin_only(200)},
    "admin:autocomplete": {"GET": admin_only(403)},  # no field named: refused for everyone
    "admin:jsi18n": {"GET": admin_only(200)},
    "admin:view_on_site": {"GET": admin_only(404)},  # no model here has a public page
    "admin:app_list": {"GET": admin_only(200)},
    "admin/(?P<url>.*)$": {"GET": admin_only(404)},
    "admin:auth_user_password_change": {"GET": admin_only(200)},
    "admin:services_serviceunit_import": {"GET": admin_only(200)},
    "admin:services_serviceunit_export": {"GET": admin_only(200)},
    "admin:services_serviceunit_process_import": {"POST": admin_only(200)},  # nothing to import
    "admin:services_institution_import": {"GET": admin_only(200)},
    "admin:services_institution_export": {"GET": admin_only(200)},
    "admin:services_institution_process_import": {"POST": admin_only(200)},
    # An authenticator's secret, as text and as a QR code: see the report on issue 7.
    # Secrets are hidden even from administrators (OTP_ADMIN_HIDE_SENSITIVE_DATA).
    "admin:otp_totp_totpdevice_config": {"GET": admin_only(403)},
    "admin:otp_totp_totpdevice_qrcode": {"GET": admin_only(403)},
}


def model_admin_rule(name: str) -> tuple[str, dict[str, dict[str, Answer]]] | None:
    """The standard views of a registered model admin: (model label, rule), else None."""
    found = STANDARD_ADMIN_VIEWS.get(name)
    if found is None:
        return None
    label, view = found
    refused = {"add": NO_ADD_IN_ADMIN, "delete": NO_DELETE_IN_ADMIN}.get(view, set())
    if label in refused:
        return label, {"GET": admin_only(403), "POST": admin_only(403)}
    if view in ("add", "delete"):
        # Only the refused post: what the administrator adds and deletes is the admin's
        # business, tested with the admin's own features.
        return label, {"GET": admin_only(200), "POST": admin_only(None)}
    return label, {"GET": admin_only(200)}


MODEL_LABELS = {model._meta.label_lower for model in admin.site._registry}
# "admin:<app>_<model>_<view>" → (model label, view) for every registered model admin
STANDARD_ADMIN_VIEWS = {
    f"admin:{label.replace('.', '_')}_{view}": (label, view)
    for label in MODEL_LABELS
    for view in ("changelist", "add", "history", "delete", "change")
}
MODEL_ADMIN_REDIRECT = re.compile(r"^admin/(?P<app>\w+)/(?P<model>\w+)/<path:object_id>/$")


# --- The routes, read from the resolver ----------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # the route's name (namespaced), or its pattern when it has none
    pattern: str  # the full pattern, e.g. "referrals/<uuid:public_id>/"
    name: str | None

    @property
    def is_admin(self) -> bool:
        return self.pattern.startswith("admin/")

    @property
    def is_api(self) -> bool:
        return self.pattern.startswith("api/v1/")


def _walk(patterns, prefix="", namespace=None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(n for n in (namespace, entry.namespace) if n) or None
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = ":".join(n for n in (namespace, entry.name) if n) if entry.name else None
            pattern = prefix + str(entry.pattern)
            yield Route(key=name or pattern, pattern=pattern, name=name)


def project_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def rule_for(route: Route) -> dict[str, dict[str, Answer]] | None:
    if route.key in MATRIX:
        return MATRIX[route.key]
    if route.key in ADMIN_SITE_MATRIX:
        return ADMIN_SITE_MATRIX[route.key]
    if route.name and (found := model_admin_rule(route.name)):
        return found[1]
    match = MODEL_ADMIN_REDIRECT.match(route.pattern)
    if route.name is None and match and f"{match['app']}.{match['model']}" in MODEL_LABELS:
        # ``…/<id>/`` → ``…/<id>/change/``: the admin's old URL, behind its login too.
        return {"GET": admin_only(Redirect(f"admin:{match['app']}_{match['model']}_change"))}
    return None


ROUTES = project_routes()


def test_every_url_pattern_has_a_rule():
    missing = [f"{route.key}  ({route.pattern})" for route in ROUTES if rule_for(route) is None]
    assert not missing, "URL patterns without a rule in the authorisation matrix:\n" + "\n".join(
        missing
    )


def test_every_rule_names_a_url_pattern_and_every_persona():
    keys = {route.key for route in ROUTES}
    stale = sorted((set(MATRIX) | set(ADMIN_SITE_MATRIX)) - keys)
    assert not stale, f"rules for routes that no longer exist: {stale}"
    incomplete = []
    for route in ROUTES:
        for method, answers in (rule_for(route) or {}).items():
            expected = set(PERSONAS) | ({UNSCOPED} if route.is_api else set())
            if method == "POST" and route.is_admin and "admin" not in answers:
                expected.discard("admin")
            if set(answers) != expected:
                incomplete.append(f"{route.key} {method}: {sorted(set(answers) ^ expected)}")
    assert not incomplete, "rules naming the wrong personas:\n" + "\n".join(incomplete)


# --- The world the requests run in ---------------------------------------------------------


@dataclass
class World:
    users: dict
    referral: Referral
    draft: Referral
    notification: Notification
    webhook: WebhookEndpoint
    apps: dict  # partner persona → oauth2 Application
    tokens: dict  # persona → bearer token
    other_unit: object
    part: ReferralTask  # partner C's unit's part of the referral
    transfer: TransferCase  # the referral's lead task, planned to move from A's unit to B's
    household: Household  # on the Sham Shui Po office's visit list, care team F01's
    visit: Visit  # the referrer's visit to it, ending in "refer"
    admin_objects: dict  # model label → an object for the admin's object URLs


def _member(username, role, **scope):
    return factories.MembershipFactory(
        user=factories.UserFactory(username=username), role=role, **scope
    ).user


def build_world() -> World:
    """The personas of ``tests/conftest.py`` and one referral of each kind the routes need."""
    area = factories.SubDistrictFactory(code="F01", district=factories.district("F"))
    team = factories.ServiceUnitFactory(
        code="care-team-f01",
        unit_type=factories.unit_type("CARE_TEAM"),
        catchment_sub_districts=[area],
        capacity=0,
    )
    ifsc = factories.ServiceUnitFactory(
        code="ifsc-f-01", unit_type=factories.unit_type("IFSC"), catchment_sub_districts=[area]
    )
    other = factories.ServiceUnitFactory(
        code="iccmw-f-01",
        unit_type=factories.unit_type("ICCMW"),
        catchment_districts=[factories.district("F")],
    )
    sharing = factories.ServiceUnitFactory(
        code="prc-f-01", unit_type=factories.unit_type("PRC"), catchment_sub_districts=[area]
    )
    role = Membership.Role
    referrer = _member("referrer", role.REFERRER, service_unit=team)
    users = {
        "referrer": referrer,
        "own_unit_worker": _member("unit-worker", role.UNIT_STAFF, service_unit=ifsc),
        "other_unit_worker": _member("other-unit-worker", role.UNIT_STAFF, service_unit=other),
        "own_district_officer": _member(
            "officer-ssp",
            role.DISTRICT_OFFICER,
            service_unit=None,
            welfare_office=factories.office("SSP"),
        ),
        "other_district_officer": _member(
            "officer-kt",
            role.DISTRICT_OFFICER,
            service_unit=None,
            welfare_office=factories.office("KT"),
        ),
        "admin": factories.UserFactory(username="hq-admin", is_staff=True, is_superuser=True),
    }
    referral = factories.ReferralFactory(
        referrer=referrer,
        referring_team=team,
        sub_district=area,
        status="assigned",
        assigned_unit=ifsc,
    )
    draft = factories.ReferralFactory(
        referrer=referrer, referring_team=team, status="draft", submitted_at=None
    )
    # Partner C's unit serves one need of the same referral (a task part of the IFSC's).
    part = ReferralTask.objects.create(
        referral=referral, unit=sharing, part_of=referral.tasks.get(is_lead=True)
    )
    event = ReferralEvent.objects.create(
        referral=referral, from_status="submitted", to_status="assigned", unit=ifsc
    )
    # The office plans to move the lead task to partner B's unit today (issue 17).
    transfer = TransferCase.objects.create(
        plan=TransferPlan.objects.create(
            kind="unit",
            title="matrix",
            from_unit=ifsc,
            effective_on=timezone.localdate(),
            created_by=users["own_district_officer"],
        ),
        task=referral.tasks.get(is_lead=True),
        referral=referral,
        from_unit=ifsc,
        to_unit=other,
        handover_note=str(HANDOVER_TEMPLATE),
    )
    notification = Notification.objects.create(
        recipient=referrer, referral=referral, event=event, kind=Notification.Kind.STATUS
    )
    webhook = WebhookEndpoint.objects.create(
        organisation=ifsc.organisation, url="https://a.example.org/hook"
    )
    everything = (
        "referrals:read",
        "referrals:write",
        "referrals:identity",
        "directory:read",
        "outreach:write",
    )
    apps = {
        "partner_a": partner_client(ifsc.organisation, scopes=everything),
        "partner_b": partner_client(other.organisation, scopes=everything),
        "partner_c": partner_client(
            sharing.organisation, scopes=(*everything, "notices:write"), intake_team=sharing
        ),
    }
    tokens_scopes = {"partner_c": " ".join((*everything, "notices:write"))}
    client = Client()
    tokens = {
        persona: token_for(client, app, tokens_scopes.get(persona, " ".join(everything)))
        for persona, app in apps.items()
    }
    # The referral came from a notice: the unit holding its task records who it reached.
    notice = UrgentNotice.objects.create(
        client=apps["partner_c"].partner, key="matrix", fingerprint="0" * 64, carer_name="李美華"
    )
    Referral.objects.filter(pk=referral.pk).update(notice=notice)
    tokens["unscoped_for_referrals"] = token_for(client, apps["partner_a"], "directory:read")
    tokens["unscoped_for_directory"] = token_for(
        client, apps["partner_a"], "referrals:read referrals:write referrals:identity"
    )
    access_token = AccessToken.objects.filter(application=apps["partner_a"]).first()
    expires = timezone.now() + timedelta(hours=1)
    grant = Grant.objects.create(
        user=referrer,
        application=apps["partner_a"],
        code="matrix-grant",
        expires=expires,
        redirect_uri="https://a.example.org/",
        code_challenge="x" * 43,
        code_challenge_method="S256",
    )
    delivery = Delivery.objects.create(
        key="matrix-delivery", notification=notification, to="referrer@example.org", subject="s"
    )
    household, visit = _outreach(users, team, area, loader=apps["partner_a"].partner)
    admin_objects = {
        "auth.group": Group.objects.create(name="matrix"),
        "outreach.visitlist": household.visit_list,
        "outreach.estate": household.estate,
        "outreach.household": household,
        "outreach.visit": visit,
        "oauth2_provider.application": apps["partner_a"],
        "oauth2_provider.accesstoken": access_token,
        "oauth2_provider.grant": grant,
        "oauth2_provider.idtoken": IDToken.objects.create(
            user=referrer, application=apps["partner_a"], jti=uuid.uuid4(), expires=expires
        ),
        "oauth2_provider.refreshtoken": RefreshToken.objects.create(
            user=referrer, application=apps["partner_a"], token="matrix-refresh"
        ),
        "accounts.user": referrer,
        "accounts.membership": Membership.objects.filter(user=referrer).get(),
        "accounts.partnerclient": apps["partner_a"].partner,
        "districts.welfareoffice": factories.office("SSP"),
        "districts.district": factories.district("F"),
        "districts.subdistrict": area,
        "services.needcategory": None,  # the first one of the reference data
        "services.unittype": factories.unit_type("IFSC"),
        "services.organisation": ifsc.organisation,
        "services.serviceunit": ifsc,
        "services.institution": Institution.objects.create(
            code="kg-matrix", name_en="Matrix KG", name_zh="矩陣幼稚園", district=ifsc.district
        ),
        "referrals.transferplan": transfer.plan,
        "referrals.referral": referral,
        "referrals.accesslog": AccessLog.objects.create(
            user=users["admin"], referral=referral, channel=AccessLog.Channel.PAGE
        ),
        "referrals.apiintake": ApiIntake.objects.create(
            client=apps["partner_a"].partner,
            key="matrix",
            fingerprint="0" * 64,
            referral=factories.ReferralFactory(referrer=referrer, referring_team=team),
        ),
        "referrals.referencesequence": ReferenceSequence.objects.create(
            office=factories.office("SSP"), year=2000, last_value=1
        ),
        "referrals.routingrule": None,  # the first of the Hong Kong defaults
        "referrals.urgentnotice": notice,
        "referrals.officeclosure": OfficeClosure.objects.create(
            starts_at=expires, ends_at=expires + timedelta(hours=6), reason="typhoon_signal_8"
        ),
        "referrals.notification": notification,
        "referrals.delivery": delivery,
        "referrals.webhookendpoint": webhook,
        "otp_totp.totpdevice": TOTPDevice.objects.create(
            user=users["admin"], name="matrix", confirmed=True
        ),
        "axes.accessattempt": AccessAttempt.objects.create(
            username="nobody", ip_address="192.0.2.1", failures_since_start=1
        ),
        "axes.accesslog": AxesAccessLog.objects.create(username="nobody", ip_address="192.0.2.1"),
        "axes.accessfailurelog": AccessFailureLog.objects.create(
            username="nobody", ip_address="192.0.2.1"
        ),
    }
    for label in MODEL_LABELS:
        if admin_objects.get(label) is None:
            model = next(m for m in admin.site._registry if m._meta.label_lower == label)
            admin_objects[label] = model._default_manager.order_by("pk").first()
    return World(
        users=users,
        referral=referral,
        draft=draft,
        notification=notification,
        webhook=webhook,
        apps=apps,
        tokens=tokens,
        other_unit=other,
        part=part,
        transfer=transfer,
        household=household,
        visit=visit,
        admin_objects=admin_objects,
    )


def _outreach(users, team, area, *, loader) -> tuple[Household, Visit]:
    """The Sham Shui Po office's visit list, one household of care team F01 in it (a carer),
    and the referrer's visit that ended in "refer"."""
    visit_list = VisitList.objects.create(
        name="Matrix list",
        source="housing",
        welfare_office=factories.office("SSP"),
        target_date=timezone.localdate() + timedelta(days=30),
        created_by=users["own_district_officer"],
        loader_client=loader,
    )
    estate = Estate.objects.create(name_en="Matrix Court", name_zh="矩陣苑", sub_district=area)
    factories.ServiceUnitFactory(  # the next sub-district's team, to move households to
        code="care-team-f02",
        unit_type=factories.unit_type("CARE_TEAM"),
        catchment_sub_districts=[
            factories.SubDistrictFactory(code="F02", district=factories.district("F"))
        ],
        capacity=0,
    )
    household = Household.objects.create(
        visit_list=visit_list,
        source_row_id="matrix-1",
        estate_name="矩陣苑",
        estate=estate,
        block="A",
        floor="3",
        flat="12",
        district=area.district,
        sub_district=area,
        team=team,
        reasons=["carer"],
        priority=2,
        status="referred",
    )
    Person.objects.create(household=household, name_zh="陳矩陣", role="carer")
    visit = Visit.objects.create(
        token=uuid.uuid4(),
        household=household,
        team=team,
        visited_by=users["referrer"],
        outcome="visited",
        next_step="refer",
    )
    return household, visit


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once, committed nowhere: the module's transaction is rolled back at the end, and
    each test runs in a savepoint inside it (pytest-django's ``db``)."""
    with (
        django_db_blocker.unblock(),
        override_settings(PASSWORD_HASHERS=factories.FAST_PASSWORD_HASHERS),
        transaction.atomic(),
    ):
        yield build_world()
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def _handler():
    """One request handler for the module: building the middleware chain (WhiteNoise reads
    every static file's name) costs more than most of the requests here."""
    return Client().handler


@pytest.fixture
def client(_handler):
    """pytest-django's ``client``, with the module's handler: a fresh cookie jar per test."""
    fresh = Client()
    fresh.handler = _handler
    return fresh


# --- Requests: URL parameters and bodies ---------------------------------------------------

Value = Callable[[World], object]

# parameter name → value, for every route that has it ...
PARAMETERS: dict[str, Value] = {
    "public_id": lambda w: w.referral.public_id,
    "reference": lambda w: w.referral.reference,
    "pk": lambda w: w.notification.pk,
    "app_label": lambda w: "referrals",
    "url": lambda w: "no-such-page/",
    "id": lambda w: w.users["referrer"].pk,
    "content_type_id": lambda w: ContentType.objects.get_for_model(Referral).pk,
}
# ... unless the route says otherwise.
ROUTE_PARAMETERS: dict[str, dict[str, Value]] = {
    "referrals:edit": {"public_id": lambda w: w.draft.public_id},
    "referrals:check": {"public_id": lambda w: w.draft.public_id},
    "outreach:list_detail": {"public_id": lambda w: w.household.visit_list.public_id},
    "outreach:list_import": {"public_id": lambda w: w.household.visit_list.public_id},
    "outreach:households_move": {"public_id": lambda w: w.household.visit_list.public_id},
    "outreach-households": {"public_id": lambda w: w.household.visit_list.public_id},
    "outreach:household_priority": {"public_id": lambda w: w.household.public_id},
    "outreach:household": {"public_id": lambda w: w.household.public_id},
    "outreach:visit_new": {"public_id": lambda w: w.household.public_id},
    "outreach:reopen": {"public_id": lambda w: w.household.public_id},
    "outreach:visit_refer": {
        "public_id": lambda w: w.visit.public_id,
        "person_id": lambda w: w.household.people.get().pk,
    },
    "outreach:team_list_of": {"team_id": lambda w: w.household.team_id},
    "api:webhook-detail": {"pk": lambda w: w.webhook.pk},
    "api:transfer-detail": {"pk": lambda w: w.transfer.pk},
    "referrals:unit_caseload": {"unit_id": lambda w: w.transfer.from_unit_id},
    "referrals:transfer_detail": {"public_id": lambda w: w.transfer.plan.public_id},
    "referrals:transfer_family_informed": {"public_id": lambda w: w.transfer.plan.public_id},
    "referrals:transfer_run": {"public_id": lambda w: w.transfer.plan.public_id},
    "referrals:transfer_cancel": {"public_id": lambda w: w.transfer.plan.public_id},
    "referrals:transfer_case_edit": {"pk": lambda w: w.transfer.pk},
    "referrals:transfer_case_remove": {"pk": lambda w: w.transfer.pk},
    "admin:view_on_site": {"object_id": lambda w: w.referral.pk},
    "admin:otp_totp_totpdevice_config": {"pk": lambda w: w.admin_objects["otp_totp.totpdevice"].pk},
    "admin:otp_totp_totpdevice_qrcode": {"pk": lambda w: w.admin_objects["otp_totp.totpdevice"].pk},
}


def _version(w: World) -> int:
    return Referral.objects.get(pk=w.referral.pk).version


# (route, method) → form or JSON body: the least that lets an allowed persona through.
BODIES: dict[tuple[str, str], Value] = {
    ("set_language", "POST"): lambda w: {"language": "zh-hant", "next": "/"},
    ("referrals:act", "POST"): lambda w: {"action": "accept", "version": _version(w)},
    ("referrals:route", "POST"): lambda w: {
        "unit": w.other_unit.pk,
        "reason": "The family already works with this centre.",
        "version": _version(w),
    },
    ("referrals:note", "POST"): lambda w: {
        "note": "Spoke to the school social worker.",
        "version": _version(w),
    },
    ("referrals:escalate", "POST"): lambda w: {
        "reason": "Threatened eviction tomorrow.",
        "version": _version(w),
    },
    ("queue:bulk", "POST"): lambda w: {
        "bulk_action": "escalate",
        "selected": [w.referral.pk],
        "reason": "Threatened eviction tomorrow.",
    },
    ("oauth2_token", "POST"): lambda w: {
        "grant_type": "client_credentials",
        "scope": "referrals:read",
    },
    ("oauth2_revoke", "POST"): lambda w: {"token": w.tokens["partner_a"]},
    ("privacy:withdraw_consent", "POST"): lambda w: {
        "withdrawn_at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "method": "verbal",
        "version": _version(w),
    },
    ("api:referral-list", "POST"): lambda w: {},
    ("api:accept", "POST"): lambda w: {},
    ("api:decline", "POST"): lambda w: {"reason": "No capacity this month."},
    ("api:status", "POST"): lambda w: {"status": "in_progress"},
    ("api:notice-list", "POST"): lambda w: {},
    ("referrals:contact", "POST"): lambda w: {"outcome": "not_reached", "version": _version(w)},
    ("referrals:message", "POST"): lambda w: {"body": "Can your unit see her on Friday?"},
    ("referrals:lead", "POST"): lambda w: {
        "task": w.part.public_id,
        "reason": "The carer's support is the main need.",
        "version": _version(w),
    },
    ("api:webhook-list", "POST"): lambda w: {"url": "https://partner.example.org/hook"},
    ("referrals:allocate", "POST"): lambda w: {
        "unit": w.transfer.from_unit_id,
        "task": [w.transfer.task_id],
        "worker": [w.users["own_unit_worker"].pk],
    },
    ("referrals:share_contact", "POST"): lambda w: {
        "task": w.transfer.task_id,
        "version": ReferralTask.objects.get(pk=w.transfer.task_id).version,
        "contact": "Ms Wong, 2345 6789",
    },
    ("referrals:transfer_family_informed", "POST"): lambda w: {
        "at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    },
    ("referrals:transfer_case_edit", "POST"): lambda w: {
        "version": TransferCase.objects.get(pk=w.transfer.pk).version,
        "handover_note": "Lives alone; weekly calls.",
    },
    ("referrals:transfer_case_remove", "POST"): lambda w: {"confirm": "on"},
    ("referrals:transfer_cancel", "POST"): lambda w: {
        "version": TransferPlan.objects.get(pk=w.transfer.plan_id).version,
        "reason": "Catchment not redrawn after all.",
        "confirm": "on",
    },
    ("referrals:transfer_answer", "POST"): lambda w: {"answer": "accept", "cases": [w.transfer.pk]},
    ("admin:logout", "POST"): lambda w: {},
    ("outreach:households_move", "POST"): lambda w: {  # the block, to care team F02
        "team": ServiceUnit.objects.get(code="care-team-f02").pk,
        "estate_name": w.household.estate_name,
        "block": w.household.block,
    },
    ("outreach:household_priority", "POST"): lambda w: {
        "priority": 3,
        "version": Household.objects.get(pk=w.household.pk).version,
    },
    ("outreach:reopen", "POST"): lambda w: {
        "note": "Neighbours say she is back.",
        "version": Household.objects.get(pk=w.household.pk).version,
    },
    ("outreach-households", "POST"): lambda w: {
        "households": [
            {
                "source_row_id": "matrix-2",
                "address": {"estate": "矩陣苑", "block": "B", "floor": "5", "flat": "1"},
                "reasons": ["living_alone"],
                "people": [{"name_zh": "李矩陣", "age_band": "80+"}],
            }
        ]
    },
}
JSON_ROUTES = {
    "outreach-households",
    "api:referral-list",
    "api:notice-list",
    "api:accept",
    "api:decline",
    "api:status",
    "api:webhook-list",
}
CLIENT_CREDENTIALS_ROUTES = {"oauth2_token", "oauth2_revoke"}


def _headers(route: Route, world: World) -> dict:
    if route.key in ("api:accept", "api:decline", "api:status"):
        return {"HTTP_IF_MATCH": f'"{_version(world)}"'}
    if route.key in ("api:referral-list", "api:notice-list"):
        return {"HTTP_IDEMPOTENCY_KEY": "matrix-1"}
    return {}


def _parameters(route: Route, world: World) -> dict:
    chosen = PARAMETERS | ROUTE_PARAMETERS.get(route.key, {})
    names = re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route.pattern)
    values = {}
    for converter_name, regex_name in names:
        name = converter_name or regex_name
        if name == "object_id" and route.key not in ROUTE_PARAMETERS:
            values[name] = _admin_object(route, world).pk
        else:
            values[name] = chosen[name](world)
    return values


def _admin_object(route: Route, world: World):
    match = MODEL_ADMIN_REDIRECT.match(route.pattern) or re.match(
        r"^admin/(?P<app>\w+)/(?P<model>\w+)/", route.pattern
    )
    return world.admin_objects[f"{match['app']}.{match['model']}"]


def url_of(route: Route, world: World) -> str:
    values = _parameters(route, world)
    if route.name:
        return reverse(route.name, kwargs=values)
    path = route.pattern
    for name, value in values.items():
        path = re.sub(rf"<(?:\w+:)?{name}>|\(\?P<{name}>[^)]*\)", str(value), path)
    return "/" + path.rstrip("$").lstrip("^")


# --- Running one check ---------------------------------------------------------------------


def database_state(world: World) -> dict:
    """What a write could change: the referrals, the timeline, notifications, webhooks,
    tokens, and how many rows each admin-registered table holds."""
    return {
        "referrals": list(
            Referral.objects.order_by("pk").values_list(
                "pk", "version", "status", "assigned_unit", "escalated_at"
            )
        ),
        "events": ReferralEvent.objects.count(),
        "tasks": list(
            ReferralTask.objects.order_by("pk").values_list(
                "pk", "status", "version", "owner", "shared_contact"
            )
        ),
        "transfers": list(
            TransferCase.objects.order_by("pk").values_list(
                "pk", "state", "version", "family_informed_at"
            )
        ),
        "plans": list(TransferPlan.objects.order_by("pk").values_list("pk", "state", "version")),
        "notifications": list(Notification.objects.order_by("pk").values_list("pk", "read_at")),
        "webhooks": list(WebhookEndpoint.objects.order_by("pk").values_list("pk", "is_active")),
        "tokens": list(AccessToken.objects.order_by("pk").values_list("pk", flat=True)),
        "households": list(
            Household.objects.order_by("pk").values_list(
                "pk", "version", "status", "team", "priority_override"
            )
        ),
        **{
            label: model._default_manager.count()
            for model in admin.site._registry
            # Audit logs of reads and sign-ins are written by allowed and refused requests.
            if (label := model._meta.label_lower) not in ("referrals.accesslog", "axes.accesslog")
        },
    }


def _sign_in(client: Client, persona: str, world: World) -> None:
    if persona in PEOPLE:
        client.force_login(world.users[persona])


def _credentials(route: Route, persona: str, world: World) -> dict:
    """What a partner system sends: its client id and secret to the OAuth2 endpoints, its
    bearer token everywhere else."""
    if persona in PARTNERS and route.key in CLIENT_CREDENTIALS_ROUTES:
        basic = base64.b64encode(f"{world.apps[persona].client_id}:{SECRET}".encode()).decode()
        return {"HTTP_AUTHORIZATION": f"Basic {basic}"}
    if persona in PARTNERS:
        return {"HTTP_AUTHORIZATION": f"Bearer {world.tokens[persona]}"}
    if persona == UNSCOPED:
        kind = "directory" if route.key.startswith("directory-api:") else "referrals"
        return {"HTTP_AUTHORIZATION": f"Bearer {world.tokens[f'unscoped_for_{kind}']}"}
    return {}


def _expected_location(answer: Redirect, world: World) -> str:
    """The redirect's target, its parameters filled like any request's (the referral)."""
    target = next((route for route in ROUTES if route.key == answer.to), None)
    return url_of(target, world) if target else reverse(answer.to)


def check(client: Client, world: World, route: Route, method: str, persona: str) -> str | None:
    """Send the request as ``persona``; None if the answer is the matrix's, else what differs."""
    expected = rule_for(route)[method][persona]
    path = url_of(route, world)
    body = BODIES.get((route.key, method), lambda w: {})(world)
    extra = _headers(route, world) | _credentials(route, persona, world)
    writes = method not in ("GET", "HEAD", "OPTIONS")
    before = database_state(world) if writes else None
    if method == "GET":
        response = client.get(path, **extra)
    elif route.key in JSON_ROUTES:
        response = client.generic(
            method, path, data=json.dumps(body), content_type="application/json", **extra
        )
    elif method == "POST":
        response = client.post(path, body, **extra)
    else:
        response = client.generic(method, path, **extra)
    changed = writes and database_state(world) != before
    answer = expected.answer if isinstance(expected, Changed) else expected
    problems = []
    status = answer.status if isinstance(answer, Redirect) else answer
    if response.status_code != status:
        problems.append(f"status {response.status_code}, expected {status}")
    elif isinstance(answer, Redirect):
        location = urlsplit(response["Location"])
        want = _expected_location(answer, world)
        if location.path != want:
            problems.append(f"redirect to {location.path}, expected {want}")
        if answer.back and parse_qs(location.query).get("next") != [path]:
            problems.append(f"login redirect without next={path}: {response['Location']}")
    if writes and changed != isinstance(expected, Changed):
        problems.append("the database changed" if changed else "nothing changed")
    if not problems:
        return None
    return f"{method} {path} as {persona}: " + "; ".join(problems)


# --- The cases -----------------------------------------------------------------------------


def _cases():
    for route in ROUTES:
        if route.is_admin or route.key not in MATRIX:
            continue
        for method, answers in MATRIX[route.key].items():
            for persona in answers:
                yield pytest.param(route, method, persona, id=f"{route.key}-{method}-{persona}")


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "method", "persona"), list(_cases()))
def test_route_answers_as_the_matrix_says(client, world, route, method, persona):
    _sign_in(client, persona, world)
    problem = check(client, world, route, method, persona)
    assert problem is None, problem


ADMIN_ROUTES = sorted(
    (route for route in ROUTES if route.is_admin),
    key=lambda route: route.key == "admin:logout",  # it ends the session: last
)


def _admin_cases():
    methods = sorted({method for route in ADMIN_ROUTES for method in rule_for(route) or {}})
    for method in methods:
        for persona in PERSONAS:
            yield pytest.param(method, persona, id=f"admin:*-{method}-{persona}")


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "persona"), list(_admin_cases()))
def test_admin_answers_as_the_matrix_says(client, world, method, persona):
    """Every admin route in one case per method and persona (the admin has some 200 routes,
    nearly all alike), one request each in a savepoint of its own; every difference from the
    matrix is listed."""
    _sign_in(client, persona, world)
    problems = []
    for route in ADMIN_ROUTES:
        if persona not in (rule_for(route) or {}).get(method, {}):
            continue
        with transaction.atomic():
            problems.append(check(client, world, route, method, persona))
            transaction.set_rollback(True)
    problems = [problem for problem in problems if problem]
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_model_admin_permissions_match_the_lists(world):
    """``READ_ONLY_IN_ADMIN``, ``NO_ADD_IN_ADMIN`` and ``NO_DELETE_IN_ADMIN`` are the
    house's intent; the model admins must agree with them."""
    request = RequestFactory().get("/admin/")
    request.user = world.users["admin"]
    disagree = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        read_only = not (
            model_admin.has_add_permission(request)
            or model_admin.has_change_permission(request)
            or model_admin.has_delete_permission(request)
        )
        if read_only != (label in READ_ONLY_IN_ADMIN):
            disagree.append(f"{label}: read-only={read_only}")
        if model_admin.has_add_permission(request) == (label in NO_ADD_IN_ADMIN):
            disagree.append(f"{label}: add={model_admin.has_add_permission(request)}")
        obj = world.admin_objects[label]
        if model_admin.has_delete_permission(request, obj) == (label in NO_DELETE_IN_ADMIN):
            disagree.append(f"{label}: delete={model_admin.has_delete_permission(request, obj)}")
    assert not disagree, f"the model admins disagree with the matrix: {disagree}"
