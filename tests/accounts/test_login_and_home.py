import pytest
from django.urls import reverse

from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

ROLE_SECTIONS = {
    "referrer": 'data-role="referrer"',
    "unit_worker": 'data-role="unit"',
    "district_officer": 'data-role="district-officer"',
    "admin_user": 'data-role="administrator"',
}


def test_home_needs_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_with_the_right_password_lands_on_home(client, referrer):
    response = client.post(
        reverse("login"), {"username": "referrer", "password": TEST_PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("home")
    assert response.context["user"] == referrer


def test_login_with_a_wrong_password_shows_an_error_in_the_users_language(client, referrer):
    response = client.post(
        reverse("login"),
        {"username": "referrer", "password": "wrong"},
        HTTP_ACCEPT_LANGUAGE="zh-hant",
    )
    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated
    assert "輸入正確的" in response.content.decode()


def test_logout_is_a_post(client, referrer):
    client.force_login(referrer)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.parametrize("persona", ROLE_SECTIONS)
def test_home_shows_the_section_of_each_role_and_no_other(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    html = client.get(reverse("home")).content.decode()
    for other, marker in ROLE_SECTIONS.items():
        assert (marker in html) == (other == persona), other


def test_referrer_home_names_their_team_and_sub_district(client, referrer, caring_team, ssp_area):
    client.force_login(referrer)
    html = client.get(reverse("home")).content.decode()
    assert caring_team.name_en in html
    assert ssp_area.name_en in html
    assert f"{reverse('directory')}?district=F" in html


def test_officer_home_lists_the_districts_of_their_office_with_unit_counts(
    client, district_officer, ifsc_unit, other_unit
):
    client.force_login(district_officer)
    response = client.get(reverse("home"))
    districts = response.context["office_districts"]
    assert [d.code for d in districts] == ["F"]
    assert districts[0].active_units == 2


def test_a_user_without_a_role_is_told_so(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    assert 'data-role="none"' in client.get(reverse("home")).content.decode()
