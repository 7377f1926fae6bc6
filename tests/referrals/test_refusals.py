"""A refused step is answered the same way on every page that can raise it
(``referrals/web/errors.py``), and on the API (``welfare_portal/api/errors.py``).

The services are replaced by one that refuses, so each page is asked the same question; the
last tests take the real services' refusals through the same doors.
"""

from dataclasses import dataclass

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from referrals import errors
from referrals.models import Referral, Status
from referrals.services import ACTION_SERVICES
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = pytest.mark.django_db

REFUSALS = [
    errors.NotPermitted("You may not do this to this referral."),
    errors.Conflict("Someone else changed this referral."),
    errors.IllegalTransition("Not from this status."),
    errors.ReasonRequired("Give a reason for this step."),
    errors.ReferralError("The unit is not taking referrals."),
]
NOT_FOUND_PAGE = "There is nothing here, or it is not yours to see."


def refusing(error):
    def service(**_kwargs):
        raise error

    return service


@dataclass
class Door:
    """One page that calls a service: who posts what where, and where a refusal goes."""

    persona: str
    url: str
    data: dict
    back: str
    patch: str | None  # the service to replace (dotted path); None: the "accept" action


@pytest.fixture
def in_triage(referrer, caring_team, ssp_area):
    return factories.ReferralFactory(
        referrer=referrer,
        referring_team=caring_team,
        sub_district=ssp_area,
        status="triage",
        reference="SSP-2026-000042",
    )


def door(name, *, assigned, in_triage, ifsc_unit) -> Door:
    detail = reverse("referrals:detail", args=[assigned.public_id])
    act = reverse("referrals:act", args=[assigned.public_id])
    version = {"version": assigned.version}
    inbox = reverse("inbox:index") + "?tab=new"
    return {
        "act": Door("unit_worker", act, {"action": "accept", **version}, detail, None),
        "inbox action": Door(
            "unit_worker", act, {"action": "accept", "next": inbox, **version}, inbox, None
        ),
        "route": Door(
            "district_officer",
            reverse("referrals:route", args=[in_triage.public_id]),
            {"unit": ifsc_unit.pk, "reason": "x", "version": in_triage.version},
            reverse("referrals:detail", args=[in_triage.public_id]),
            "referrals.web.route_views.referral_assign",
        ),
        "escalate": Door(
            "district_officer",
            reverse("referrals:escalate", args=[assigned.public_id]),
            {"reason": "x", **version},
            detail,
            "referrals.web.views.referral_escalate",
        ),
        "withdraw consent": Door(
            "unit_worker",
            reverse("privacy:withdraw_consent", args=[assigned.public_id]),
            {"withdrawn_at": "2026-01-05T10:00", "method": "verbal", **version},
            detail,
            "referrals.privacy.referral_withdraw_consent",
        ),
    }[name]


SINGLE_DOORS = ["act", "inbox action", "route", "escalate", "withdraw consent"]


@pytest.mark.parametrize("name", SINGLE_DOORS)
@pytest.mark.parametrize("error", REFUSALS, ids=lambda e: type(e).__name__)
def test_every_page_answers_a_refusal_the_same_way(
    client, request, monkeypatch, assigned_referral, in_triage, ifsc_unit, name, error
):
    here = door(name, assigned=assigned_referral, in_triage=in_triage, ifsc_unit=ifsc_unit)
    if here.patch is None:
        monkeypatch.setitem(ACTION_SERVICES, "accept", refusing(error))
    else:
        monkeypatch.setattr(here.patch, refusing(error))
    client.force_login(request.getfixturevalue(here.persona))

    response = client.post(here.url, here.data)

    said = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    if isinstance(error, errors.NotPermitted):  # as if the referral were not there
        assert response.status_code == 404
        assert NOT_FOUND_PAGE in response.content.decode()
        assert said == []
    else:  # back where the form came from, saying why
        assert (response.status_code, response["Location"]) == (302, here.back)
        assert said == [("error", str(error.message))]


@pytest.mark.parametrize("error", REFUSALS, ids=lambda e: type(e).__name__)
def test_the_bulk_actions_answer_each_row_in_the_same_terms(
    client, monkeypatch, district_officer, in_triage, error
):
    monkeypatch.setattr("referrals.web.queue_views.referral_escalate", refusing(error))
    client.force_login(district_officer)
    response = client.post(
        reverse("queue:bulk"),
        {"bulk_action": "escalate", "selected": [in_triage.pk], "reason": "x", "query": "view=all"},
    )
    said = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert (response.status_code, response["Location"]) == (302, "/queue/?view=all")
    if isinstance(error, errors.NotPermitted):  # the row reads as one out of reach
        assert said == [("error", "A selected referral is not in your districts.")]
    else:
        assert said == [("error", f"SSP-2026-000042: {error.message}")]


# --- The API: one exception handler, from the error's class ------------------------------


@pytest.fixture
def writer(client, ifsc_unit):
    application = partner_client(
        ifsc_unit.organisation, scopes=("referrals:read", "referrals:write")
    )
    return bearer(token_for(client, application, scope="referrals:read referrals:write"))


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (REFUSALS[0], 404, "not_found"),
        (REFUSALS[1], 409, "conflict"),
        (REFUSALS[2], 400, "illegal_transition"),
        (REFUSALS[3], 400, "reason_required"),
        (REFUSALS[4], 400, "refused"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_the_api_answers_each_refusal_from_its_class(
    client, monkeypatch, writer, assigned_referral, error, status, code
):
    monkeypatch.setattr("referrals.api.views.referral_accept", refusing(error))
    url = reverse("api:accept", args=[assigned_referral.reference])
    response = client.post(url, {"version": assigned_referral.version}, **writer)
    assert response.status_code == status
    if isinstance(error, errors.NotPermitted):  # word for word a reference that is not there
        unknown = client.post(reverse("api:accept", args=["NOPE-2026-000001"]), **writer)
        assert response.json() == unknown.json()
        assert response.json()["error"] == "not_found"
    else:
        assert response.json() == {"error": code, "message": str(error.message), "fields": {}}


# --- The real services' refusals, through the same doors ----------------------------------


def test_a_step_that_is_not_the_readers_to_take_is_a_404_on_the_page_and_the_api(
    client, referrer, assigned_referral
):
    client.force_login(referrer)  # the referrer sees the referral but may not accept it
    page = client.post(
        reverse("referrals:act", args=[assigned_referral.public_id]),
        {"action": "accept", "version": assigned_referral.version},
    )
    api = client.post(
        reverse("api:accept", args=[assigned_referral.reference]),
        {"version": assigned_referral.version},
    )
    assert (page.status_code, api.status_code) == (404, 404)
    assert api.json()["message"] == "Not found, or not yours."
    assert Referral.objects.get(pk=assigned_referral.pk).status == Status.ASSIGNED


def test_a_step_from_the_wrong_status_is_named_on_the_api(client, writer, assigned_referral):
    response = client.post(
        reverse("api:status", args=[assigned_referral.reference]),
        {"status": "in_progress", "version": assigned_referral.version},
        content_type="application/json",
        **writer,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "illegal_transition"
    assert "cannot be moved to" in body["message"]
