"""Property-based tests of the partner API with hostile input: the intake
(``POST /api/v1/referrals/``), the list's filters and sync cursor, and the accept action's
``If-Match``. Whatever a partner system sends, the answer is never a server error, an error
is the API's JSON shape, and a refused request changes nothing."""

import base64
import json
import uuid
from urllib.parse import quote_from_bytes, urlencode

import pytest
from django.urls import reverse
from hypothesis import event, given
from hypothesis import strategies as st

from referrals.models import Referral, Status
from tests import factories
from tests.fuzz.conftest import assert_stored_within_limits
from tests.fuzz.strategies import (
    BOUNDED,
    bad_dates,
    bad_datetimes,
    bad_identity_numbers,
    bad_phones,
    json_values,
    unicode_text,
)
from tests.referrals.api.test_intake import body

pytestmark = pytest.mark.django_db

URL = "/api/v1/referrals/"
NOTHING = {"referrals": 0, "events": 0, "intakes": 0, "versions": 0}
TEXT = unicode_text(surrogates=True)
ANY_JSON = json_values()
FIELD_VALUES = {
    **{
        name: st.one_of(TEXT, ANY_JSON)
        for name in (
            "subject_name_zh",
            "subject_name_en",
            "address",
            "situation",
            "referrer_contact",
            "consent_exemption_reason",
            "sex",
            "household",
            "preferred_language",
            "consent_basis",
            "consent_given_by",
            "consent_method",
            "district",
            "sub_district",
        )
    },
    "age": st.one_of(st.integers(-(2**63), 2**63), st.integers(0, 200).map(str), ANY_JSON),
    "date_of_birth": st.one_of(bad_dates(), ANY_JSON),
    "consent_given_at": st.one_of(bad_datetimes(), ANY_JSON),
    "phone": st.one_of(bad_phones(), ANY_JSON),
    "id_number": st.one_of(bad_identity_numbers(), ANY_JSON),
    "id_type": st.one_of(st.sampled_from(["hkid", "twid", "", "HKID", None]), ANY_JSON),
    "needs": st.one_of(
        st.lists(st.sampled_from(["housing", "elderly_care", "x" * 50, ""])), ANY_JSON
    ),
    "risk_factors": st.one_of(st.lists(st.sampled_from(["self_harm", "bad", ""])), ANY_JSON),
}


def assert_error_shape(response) -> None:
    answer = response.json()
    assert set(answer) == {"error", "message", "fields"}, answer
    assert isinstance(answer["error"], str) and isinstance(answer["fields"], dict)


def post_json(client, api, payload, key=None):
    # ensure_ascii: lone surrogates travel as \ud800 escapes, as any JSON encoder may send.
    return client.post(
        URL,
        json.dumps(payload, ensure_ascii=True),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
        **api,
    )


@given(
    hostile=st.fixed_dictionaries({}, optional=FIELD_VALUES),
    extra=st.dictionaries(st.text(max_size=12), ANY_JSON, max_size=2),
)
@BOUNDED
def test_any_intake_body_is_filed_whole_or_not_at_all(
    client, api, ssp_area, ifsc_unit, changes, hostile, extra
):
    payload = {**extra, **body(ssp_area), **hostile}
    changes()

    response = post_json(client, api, payload)

    event(f"status {response.status_code}")
    assert response.status_code in (201, 400), response.content
    delta = changes()
    if response.status_code != 201:
        assert_error_shape(response)
        assert delta == NOTHING
        return
    assert delta["referrals"] == delta["intakes"] == 1
    referral = Referral.objects.get(reference=response.json()["reference"])
    assert referral.status == Status.SUBMITTED
    assert_stored_within_limits(referral)


@given(payload=json_values(max_leaves=10))
@BOUNDED
def test_an_intake_body_of_the_wrong_shape_is_a_400(client, api, ssp_area, changes, payload):
    """Lists, numbers, strings or null where the referral object should be."""
    changes()

    response = post_json(client, api, payload)

    assert response.status_code == 400, response.content
    assert_error_shape(response)
    assert changes() == NOTHING


@given(raw=st.one_of(st.binary(max_size=60), st.text(max_size=60).map(str.encode)))
@BOUNDED
def test_an_intake_body_that_is_not_json_is_a_400(client, api, changes, raw):
    changes()

    response = client.post(
        URL, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1", **api
    )

    assert response.status_code == 400, response.content
    assert_error_shape(response)
    assert changes() == NOTHING


# --- The list: filters, the sync pass's until and cursor ----------------------------------


def forged_cursor() -> st.SearchStrategy[str]:
    """DRF's cursor is base64 of ``o=<offset>&r=<reverse>&p=<position>``: forge each part."""
    position = st.one_of(bad_datetimes(), st.just(""), st.text(max_size=20))
    offset = st.one_of(st.integers(-(2**70), 2**70).map(str), st.text(max_size=5))
    token = st.builds(
        lambda o, r, p: urlencode({"o": o, "r": r, "p": p}),
        offset,
        st.sampled_from(["0", "1", "x"]),
        position,
    )
    return st.one_of(
        token.map(lambda t: base64.b64encode(t.encode()).decode()),
        st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
        st.text(max_size=40),
    )


QUERY = st.fixed_dictionaries(
    {},
    optional={
        "status": st.one_of(
            st.sampled_from(["assigned", "accepted", "nope"]), st.text(max_size=10)
        ),
        "risk_level": st.text(max_size=10),
        "unit": unicode_text(max_size=30),
        "district": unicode_text(max_size=10),
        "updated_after": bad_datetimes(),
        "until": bad_datetimes(),
        "cursor": forged_cursor(),
        "page_size": st.one_of(st.integers(-(2**40), 2**40).map(str), st.text(max_size=5)),
    },
)


@given(query=QUERY, junk=st.binary(max_size=12))
@BOUNDED
def test_any_list_query_answers_a_page_or_a_clear_error(client, api, ifsc_unit, query, junk):
    factories.ReferralFactory(status="assigned", assigned_unit=ifsc_unit)
    # Invalid UTF-8 after the query's own parameters, percent-encoded as a client may send it.
    raw = urlencode(query) + "&unit=" + quote_from_bytes(junk)

    response = client.get(f"{URL}?{raw}", **api)

    event(f"status {response.status_code}")
    assert response.status_code in (200, 400, 404), response.content
    if response.status_code != 200:
        assert_error_shape(response)
    else:
        assert {"next", "previous", "until", "results"} <= set(response.json())


# --- An action: accept with If-Match ------------------------------------------------------

IF_MATCH = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.sampled_from(['"1"', 'W/"1"', "W/1", '"2"', '""', "*", "1, 2", "０", "1e3", "9" * 11]),
    st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=20),
)


@given(if_match=st.one_of(st.none(), IF_MATCH), payload=st.one_of(st.none(), json_values()))
@BOUNDED
def test_accept_is_done_once_with_the_right_version_or_not_at_all(
    client, api, ifsc_unit, changes, if_match, payload
):
    referral = factories.ReferralFactory(status="assigned", assigned_unit=ifsc_unit)
    headers = {**api}
    if if_match is not None:
        headers["HTTP_IF_MATCH"] = if_match
    changes()

    response = client.post(
        reverse("api:accept", args=[referral.reference]),
        json.dumps(payload),
        content_type="application/json",
        **headers,
    )

    event(f"status {response.status_code}")
    assert response.status_code in (200, 400, 409), response.content
    delta = changes()
    after = Referral.objects.get(pk=referral.pk)
    if response.status_code != 200:
        assert_error_shape(response)
        assert delta == NOTHING
        assert after.status == Status.ASSIGNED and after.version == referral.version
        return
    assert after.status == Status.ACCEPTED and after.version == referral.version + 1
    assert delta["versions"] == 1 and delta["events"] == 1
    assert response["ETag"] == f'"{after.version}"'
