"""Malformed input is refused with a 400 or ignored, never a 500 (issue 14 item 4)."""

import json

import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_a_district_that_is_not_a_number_is_no_500_on_the_queue(client, admin_user):
    """issue 14 item 4: ``?district=abc`` reached ``district_id="abc"`` in the team/unit
    choices for headquarters: a ValueError, a 500."""
    client.force_login(admin_user)
    response = client.get("/queue/", {"district": "abc"})
    assert response.status_code in (200, 400)


@pytest.mark.django_db
def test_a_nul_in_an_admin_changelist_filter_is_no_500(client, admin_user):
    """issue 14 item 4: ``?status__exact=%00`` went to PostgreSQL, which refuses NUL."""
    client.force_login(admin_user)
    response = client.get(reverse("admin:referrals_referral_changelist") + "?status__exact=%00")
    assert response.status_code != 500


@pytest.mark.django_db
def test_a_nul_in_an_api_reference_is_a_json_404(client, api):
    """issue 14 item 4: ``/api/v1/referrals/%00/`` went to PostgreSQL with a NUL."""
    response = client.get("/api/v1/referrals/%00/", **api)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.django_db
def test_json_nested_too_deep_is_a_400_in_the_error_shape(client, api):
    """issue 14 item 4: 5,000 nested lists made the JSON parser raise RecursionError."""
    body = "[" * 5000 + "]" * 5000
    response = client.post("/api/v1/referrals/", body, content_type="application/json", **api)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert json.dumps(response.json())
