"""Name searches stay out of URLs (issue 14 item 9): the box POSTs, the text waits in the
session under a short random id, and every URL the portal answers with carries the id only."""

import re
from urllib.parse import quote, quote_plus

import pytest
from django.test import Client
from django.urls import reverse

from referrals.models import Status
from referrals.web import search as searching
from tests import factories

pytestmark = pytest.mark.django_db

NAME = "李美華"
QUEUE = reverse("queue:index")
LIST = reverse("referrals:list")


def spellings(text: str) -> list[str]:
    return [text, quote(text), quote_plus(text), quote(text).lower()]


def urls_in(response) -> list[str]:
    """Every URL an answer gives the browser: its redirect, htmx's pushed URL, and the
    page's links, htmx requests and ``query``/``next`` fields."""
    urls = [response.get("Location", ""), response.get("HX-Push-Url", "")]
    html = response.content.decode()
    urls += re.findall(r'(?:href|hx-get|hx-post|action|hx-push-url)="([^"]*)"', html)
    urls += re.findall(r'name="(?:query|next)" value="([^"]*)"', html)
    urls += re.findall(r'value="([^"]*)" form="queue-search"', html)
    return urls


def assert_no_name_in_urls(response, text=NAME):
    for url in urls_in(response):
        for spelling in spellings(text):
            assert spelling not in url, url


@pytest.fixture
def named(referrer, caring_team, ssp_area):
    """Thirty triage referrals for the name (two pages), one for somebody else."""
    made = [
        factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            sub_district=ssp_area,
            status=Status.TRIAGE,
            subject_name_zh=NAME,
            subject_name_en="Lee Mei Wah",
        )
        for _ in range(30)
    ]
    other = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, sub_district=ssp_area, status=Status.TRIAGE
    )
    return made, other


def search_id_of(location: str) -> str:
    match = re.search(r"[?&]search=([\w-]+)", location)
    assert match, location
    return match.group(1)


def test_the_queue_search_posts_and_comes_back_with_an_id_not_the_name(
    client, district_officer, named
):
    made, other = named
    client.force_login(district_officer)
    posted = client.post(QUEUE, {"q": NAME, "query": "view=triage&risk_level=routine"})
    assert posted.status_code == 302
    assert_no_name_in_urls(posted)
    location = posted["Location"]
    assert "view=triage" in location and "risk_level=routine" in location
    search_id = search_id_of(location)

    page = client.get(location)
    assert_no_name_in_urls(page)
    rows = [row["referral"] for row in page.context["rows"]]
    assert len(rows) == 25 and other not in rows and page.context["page"].has_next
    html = page.content.decode()
    assert f"search={search_id}" in html  # the next page's link keeps the search
    start = html.index('id="queue-filters"')
    filters = html[start : html.index("</form>", start)]
    assert f'name="search" value="{search_id}"' in filters  # filter changes keep it
    assert 'name="q"' not in filters  # and htmx never sends the text with them
    assert f'value="{NAME}"' in html  # the box shows what was searched

    second = client.get(location + "&page=2", HTTP_HX_REQUEST="true")
    assert_no_name_in_urls(second)
    assert len(second.context["rows"]) == 5
    other_view = client.get(location.replace("view=triage", "view=all"))
    assert {row["referral"].pk for row in other_view.context["rows"]} <= {r.pk for r in made}


def test_a_name_in_the_url_itself_is_dropped_and_never_echoed(client, district_officer, named):
    client.force_login(district_officer)
    response = client.get(QUEUE, {"view": "triage", "q": NAME})
    assert response.status_code == 302 and response["Location"] == f"{QUEUE}?view=triage"
    assert searching.SESSION_KEY not in client.session  # a GET stores nothing


def test_another_session_cannot_use_the_id(client, district_officer, named):
    client.force_login(district_officer)
    location = client.post(QUEUE, {"q": NAME, "query": "view=triage"})["Location"]
    other = Client()
    other.force_login(district_officer)  # the same officer, another session
    response = other.get(location, follow=True)
    assert "That search is no longer available" in response.content.decode()
    rows = [row["referral"] for row in response.context["rows"]]
    assert named[1] in rows or response.context["page"].has_next  # unfiltered
    assert response.context["search"].id == ""
    assert "search=" not in response.context["query"]


def test_an_expired_id_is_ignored_with_a_message(client, district_officer, named):
    client.force_login(district_officer)
    location = client.post(QUEUE, {"q": "nobody at all", "query": "view=triage"})["Location"]
    assert client.get(location).context["rows"] == []  # found nobody
    session = client.session
    for entry in session[searching.SESSION_KEY].values():
        entry["at"] -= searching.LIFETIME_SECONDS + 1
    session.save()
    response = client.get(location)
    assert len(response.context["rows"]) == 25
    assert "That search is no longer available" in response.content.decode()


def test_clearing_the_search_keeps_the_filters(client, district_officer, named):
    client.force_login(district_officer)
    location = client.post(QUEUE, {"q": NAME, "query": "view=triage"})["Location"]
    query = location.split("?", 1)[1]
    cleared = client.post(QUEUE, {"q": NAME, "clear": "1", "query": query})
    assert cleared["Location"] == f"{QUEUE}?view=triage"


def test_the_search_box_is_csrf_protected(district_officer, named):
    client = Client(enforce_csrf_checks=True)
    client.force_login(district_officer)
    assert client.post(QUEUE, {"q": NAME}).status_code == 403
    assert searching.SESSION_KEY not in client.session


def test_people_without_an_office_cannot_search_the_queue(client, referrer, named):
    client.force_login(referrer)
    assert client.post(QUEUE, {"q": NAME}).status_code == 404
    assert searching.SESSION_KEY not in client.session


def test_a_session_keeps_only_its_newest_searches(client, district_officer):
    client.force_login(district_officer)
    ids = [
        search_id_of(client.post(QUEUE, {"q": f"name {n}"})["Location"])
        for n in range(searching.KEEP + 2)
    ]
    kept = client.session[searching.SESSION_KEY]
    assert len(kept) == searching.KEEP and set(kept) == set(ids[2:])


# --- My referrals ------------------------------------------------------------------------


def test_my_referrals_search_by_post_and_pages_keep_the_id(client, referrer, named):
    made, other = named
    client.force_login(referrer)
    posted = client.post(LIST, {"q": "Lee Mei Wah", "query": "status=triage"})
    assert_no_name_in_urls(posted, "Lee Mei Wah")
    location = posted["Location"]
    assert location.startswith(f"{LIST}?") and "status=triage" in location
    search_id = search_id_of(location)
    page = client.get(location)
    assert page.context["count"] == 30
    assert other not in page.context["referrals"]
    assert_no_name_in_urls(page, "Lee Mei Wah")
    html = page.content.decode()
    assert f"search={search_id}&amp;page=2" in html
    assert f'name="search" value="{search_id}"' in html
    assert client.get(location + "&page=2").context["count"] == 30


def test_my_referrals_ignore_a_name_in_the_url_and_a_foreign_id(client, referrer, named):
    client.force_login(referrer)
    response = client.get(LIST, {"q": "Lee Mei Wah"})
    assert response.status_code == 302 and response["Location"] == LIST
    response = client.get(LIST, {"search": "not-mine"})
    assert response.context["count"] == 31
    assert "That search is no longer available" in response.content.decode()
