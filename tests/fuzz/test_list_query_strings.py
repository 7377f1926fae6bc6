"""No query string makes a list page or endpoint answer 500 (issue 14 item 4): the queue and
its views, the inbox's tabs, "my referrals", notifications, the dashboard, the directory, the
changelist of every model registered in the admin, and the API's lists (referrals and their
sync cursor, webhooks, districts, units, HSDS). Keys are each list's real filter names and
random ones; values are any text (NUL, control characters, every script), huge and negative
numbers, impossible dates, repeated keys and invalid UTF-8. A signed-in user allowed to see
the page sends them; the answer is a page, a redirect or a clear 4xx, never a server error.
"""

from urllib.parse import quote_from_bytes, urlencode

import pytest
from django.contrib import admin
from django.urls import reverse
from hypothesis import event, given
from hypothesis import strategies as st

from referrals.api.filters import ReferralFilter
from referrals.models import Notification, ReferralEvent, Status
from referrals.queues import QueueFilter
from referrals.web.views import ReferralListFilter
from services.filters import DirectoryFilter
from tests import factories
from tests.fuzz.strategies import BOUNDED, bad_dates, bad_datetimes, unicode_text
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db

PAGING = ["page", "page_size", "cursor", "sort", "tab", "view", "search", "format"]
ADMIN_PARAMETERS = [
    "q",
    "o",
    "p",
    "all",
    "e",
    "_facets",
    "_to_field",
    "_popup",
    "_changelist_filters",
]
NASTY = [
    "\x00",
    "%00",
    "1\x00",
    "-1",
    "0",
    str(2**63),
    str(-(2**63) - 1),
    "9" * 40,
    "1e400",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "２",
    "\u0663",
    "²",
    "-",
    ".",
    "__",
]
VALUES = st.one_of(
    st.sampled_from(NASTY),
    unicode_text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    bad_dates(),
    bad_datetimes(),
)


def filter_names(filterset) -> list[str]:
    return list(filterset.base_filters)


def admin_names(model_admin) -> list[str]:
    """The changelist's own parameters: each list filter's lookups, the date hierarchy's."""
    names = []
    for entry in model_admin.list_filter:
        if isinstance(entry, str):
            names += [f"{entry}__exact", f"{entry}__id__exact", f"{entry}__isnull", entry]
            names += [f"{entry}__gte", f"{entry}__lt"]
        elif isinstance(entry, tuple | list):
            names += [f"{entry[0]}__exact", entry[0]]
        else:
            names.append(getattr(entry, "parameter_name", "") or "x")
    if model_admin.date_hierarchy:
        names += [f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")]
    return names + ADMIN_PARAMETERS


def query_strings(names: list[str]) -> st.SearchStrategy[str]:
    """Pairs of a real (or random) key and a hostile value, keys repeated as lists are, and
    sometimes invalid UTF-8 percent-encoded after them."""
    keys = st.one_of(st.sampled_from(names + PAGING), st.text(max_size=12))
    pairs = st.lists(st.tuples(keys, VALUES), max_size=5)
    junk = st.one_of(st.just(b""), st.binary(min_size=1, max_size=6))
    return st.builds(
        lambda items, key, raw: (
            urlencode(items) + (f"&{key}={quote_from_bytes(raw)}" if raw else "")
        ),
        pairs,
        st.sampled_from(names),
        junk,
    )


# Each page with who may see it and its filters' names.
PAGES = [
    ("district_officer", "/queue/", filter_names(QueueFilter)),
    ("admin_user", "/queue/", filter_names(QueueFilter)),
    ("unit_worker", "/inbox/", ["tab"]),
    ("referrer", "/referrals/", filter_names(ReferralListFilter)),
    ("referrer", "/notifications/", []),
    ("district_officer", "/dashboard/", ["district"]),
    ("admin_user", "/dashboard/export.csv", ["district"]),
    ("unit_worker", "/directory/", filter_names(DirectoryFilter)),
]
API_LISTS = [
    ("/api/v1/referrals/", filter_names(ReferralFilter)),
    ("/api/v1/webhooks/", []),
    ("/api/v1/districts/", []),
    ("/api/v1/units/", filter_names(DirectoryFilter)),
    ("/api/v1/directory/hsds/", []),
]


def changelists() -> list[tuple[str, list[str]]]:
    return sorted(
        (
            reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"),
            admin_names(model_admin),
        )
        for model, model_admin in admin.site._registry.items()
    )


@pytest.fixture
def rows(referrer, caring_team, ifsc_unit, unit_worker, district_officer):
    """A referral of each kind the lists show, and a notification, so the pages draw rows."""
    for status in (Status.SUBMITTED, Status.ASSIGNED, Status.ACCEPTED, Status.COMPLETED):
        referral = factories.ReferralFactory(
            referrer=referrer, referring_team=caring_team, assigned_unit=ifsc_unit, status=status
        )
    event = ReferralEvent.objects.create(referral=referral, to_status=Status.ASSIGNED)
    Notification.objects.create(recipient=referrer, referral=referral, event=event, kind="assigned")


@pytest.fixture
def partner(client, ifsc_unit):
    application = partner_client(
        ifsc_unit.organisation, scopes=("referrals:read", "directory:read")
    )
    return bearer(token_for(client, application, scope="referrals:read directory:read"))


def assert_no_server_error(response, url) -> None:
    assert response.status_code < 500, (url, response.content[:300])


@BOUNDED
@given(page=st.sampled_from(PAGES), data=st.data())
def test_no_query_string_is_a_server_error_on_a_page(client, request, rows, page, data):
    persona, url, names = page
    query = data.draw(query_strings(names or ["page"]), label="query")
    client.force_login(request.getfixturevalue(persona))
    response = client.get(f"{url}?{query}")
    event(f"{url} {response.status_code}")
    assert_no_server_error(response, url)


@BOUNDED
@given(endpoint=st.sampled_from(API_LISTS), data=st.data())
def test_no_query_string_is_a_server_error_on_an_api_list(client, rows, partner, endpoint, data):
    url, names = endpoint
    query = data.draw(query_strings(names or ["page"]), label="query")
    response = client.get(f"{url}?{query}", **partner)
    event(f"{url} {response.status_code}")
    assert_no_server_error(response, url)
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "message", "fields"}, response.content


CHANGELISTS = changelists()
# django-axes' admins (attempts, failures, log) have a date hierarchy too; Django's changelist
# lets an overflowing year escape as OverflowError, which
# ``welfare_portal.admin_changelists.BoundedDateHierarchyMixin`` maps to "invalid filter" on
# ours and, re-registered in accounts/admin.py, on axes'.
AXES_DATE_HIERARCHIES = {
    f"/admin/axes/{name}/": "attempt_time__year"
    for name in ("accessattempt", "accessfailurelog", "accesslog")
}


@BOUNDED
@given(changelist=st.sampled_from(CHANGELISTS), data=st.data())
def test_no_query_string_is_a_server_error_on_an_admin_changelist(
    client, admin_user, rows, changelist, data
):
    url, names = changelist
    query = data.draw(query_strings(names), label="query")
    client.force_login(admin_user)
    response = client.get(f"{url}?{query}")
    event(f"{url} {response.status_code}")
    assert_no_server_error(response, url)


@pytest.mark.parametrize(("url", "names"), CHANGELISTS, ids=[url for url, _ in CHANGELISTS])
def test_every_changelist_refuses_a_nul_or_a_huge_number_in_each_parameter(
    client, admin_user, url, names
):
    """Every registered model, each of its own parameters: hypothesis samples, this sweeps."""
    client.force_login(admin_user)
    for name in names:
        for value in ("a\x00b", str(2**70)):
            assert_no_server_error(client.get(url, {name: value}), f"{url}?{name}={value!r}")


@pytest.mark.parametrize("url", sorted(AXES_DATE_HIERARCHIES))
def test_axes_changelists_answer_a_huge_year_as_an_invalid_filter(client, admin_user, url):
    """django-axes' own admins overflowed on a huge year; they are registered again with
    the guard every admin has (accounts/admin.py)."""
    client.force_login(admin_user)
    response = client.get(url, {AXES_DATE_HIERARCHIES[url]: str(2**70)})
    assert response.status_code == 302 and "e=1" in response["Location"]


def test_our_date_hierarchies_answer_a_huge_year_as_an_invalid_filter(client, admin_user):
    client.force_login(admin_user)
    for url, name in [
        (reverse("admin:referrals_referral_changelist"), "submitted_at__year"),
        (reverse("admin:referrals_accesslog_changelist"), "at__year"),
    ]:
        response = client.get(url, {name: str(2**70)})
        assert response.status_code == 302 and response.url.endswith("?e=1"), url


def test_a_nul_anywhere_in_a_query_string_is_a_translated_400(client, referrer, admin_user):
    client.force_login(admin_user)
    response = client.get("/admin/accounts/membership/?role__exact=%00")
    assert response.status_code == 400
    client.force_login(referrer)
    client.cookies["django_language"] = "zh-hant"
    assert client.get("/referrals/?q=a%00").status_code == 400
    api = client.get("/api/v1/referrals/?district=%00", HTTP_ACCEPT_LANGUAGE="zh-Hant")
    assert api.status_code == 400
    assert api.json()["error"] == "invalid"
    assert api.json()["message"] != "The request could not be understood."
