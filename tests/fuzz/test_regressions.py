"""Server errors the fuzz tests found, each pinned by the example that found it."""

import pytest
from django.urls import reverse

from tests.fuzz.conftest import snapshot
from tests.fuzz.test_api_input import assert_error_shape, post_json
from tests.referrals.api.test_intake import body
from tests.referrals.conftest import form_data

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "value"),
    [("district", "F\x00"), ("sub_district", "\x00"), ("district", "\ud800")],
)
def test_a_nul_or_surrogate_in_a_code_is_an_unknown_code_not_a_500(
    client, api, ssp_area, field, value
):
    """A NUL byte reached ``District.objects.get(code=…)`` and PostgreSQL refused the query
    (DataError, a 500); a lone surrogate broke the body's fingerprint (UnicodeEncodeError)."""
    before = snapshot()

    response = post_json(client, api, body(ssp_area, **{field: value}))

    assert response.status_code == 400
    assert_error_shape(response)
    assert list(response.json()["fields"]) == [field]
    assert snapshot() == before


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+08:00", "0001-01-01T00:00+23:59", "9999-12-31T23:59:59-23:59"]
)
def test_a_consent_time_beyond_the_calendar_is_a_field_error_not_a_500(client, api, ssp_area, when):
    """DRF converts an aware time to the current zone (Hong Kong) and overflowed on year 1
    with a positive offset (OverflowError, a 500). The message is the page's own."""
    before = snapshot()

    response = post_json(client, api, body(ssp_area, consent_given_at=when))

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "consent_given_at": ["This date and time is out of range."]
    }
    assert snapshot() == before


@pytest.mark.parametrize("when", ["0001-01-01T00:00", "0001-01-01 07:36"])
def test_the_form_refuses_year_one_consent_without_a_500(
    client, referrer, ssp_area, caring_team, when
):
    """The page took a year-1 time in Hong Kong (before the first year in UTC): PostgreSQL
    stored it as 1 BC and every later read of the referral failed (DataError, a 500)."""
    client.force_login(referrer)
    before = snapshot()

    response = client.post(
        reverse("referrals:new"), form_data(ssp_area, caring_team, consent_given_at=when)
    )

    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["consent_given_at"]
    assert snapshot() == before
