"""The referral form's duplicate check is not an identity-number oracle (issue 14 item 2),
and a form submitted twice at once does not warn about itself (item 18)."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from referrals import identity
from referrals.duplicates import duplicate_check
from referrals.models import AccessLog, Referral
from tests import factories
from tests.referrals.conftest import file_through_page, form_data

pytestmark = pytest.mark.django_db
NEW = reverse("referrals:new")
TARGET = "G123456A"  # the person the attacker is after, with an open referral elsewhere


def candidates_fitting(masked: str, count: int) -> list[str]:
    """What the oracle script posts: valid HKIDs that fit the mask, the right one among them."""
    found = []
    for digits in range(10_000):
        for check in "0123456789A":
            number = f"G12{digits:04d}{check}"
            try:
                fits = identity.mask("hkid", number) == masked
            except ValidationError:  # the wrong check character for these digits
                fits = False
            if fits:
                found.append(number)
                break
        if len(found) >= count - 1:
            break
    return [TARGET, *[n for n in found if n != TARGET]][:count]


@pytest.fixture
def target(other_unit):
    return factories.ReferralFactory(
        status="assigned",
        assigned_unit=other_unit,
        id_number_hash=identity.keyed_hash("hkid", TARGET),
        id_type="hkid",
        id_number_masked=identity.mask("hkid", TARGET),
    )


def test_the_oracle_script_learns_no_more_than_may_be_open_and_is_throttled(
    client, referrer, ssp_area, caring_team, target, other_unit, settings
):
    settings.DUPLICATE_CHECKS_PER_HOUR = 10
    client.force_login(referrer)
    answers = []
    for number in candidates_fitting(target.id_number_masked, 15):
        data = form_data(ssp_area, caring_team, id_number=number, phone="", address="Flat 1")
        answers.append(file_through_page(client, data))

    allowed, refused = answers[:10], answers[10:]
    # Each wrong guess was a referral filed, under the attacker's name; the refused ones
    # filed nothing.
    assert Referral.objects.filter(referrer=referrer).exclude(status="draft").count() == 9
    assert [a.status_code for a in allowed] == [200] + [302] * 9  # warned / filed
    for answer in allowed:
        html = answer.content.decode()
        assert target.reference not in html and other_unit.name_en not in html
        assert target.get_status_display() not in html
    assert 'id="duplicate-elsewhere"' in allowed[0].content.decode()  # the right number
    for answer in refused:
        assert answer.status_code == 429
        assert "checked many different people" in answer.content.decode()
    assert AccessLog.objects.filter(referral=target, user=referrer).count() == 1


def test_the_same_form_posted_again_costs_no_check(
    client, referrer, ssp_area, caring_team, target, settings
):
    settings.DUPLICATE_CHECKS_PER_HOUR = 1
    client.force_login(referrer)
    data = form_data(ssp_area, caring_team, id_number="G123456(A)")
    for _ in range(3):  # fixing another field and posting again
        assert file_through_page(client, data).status_code == 200
    other = form_data(ssp_area, caring_team, id_number="A123456(3)", phone="")
    assert file_through_page(client, other).status_code == 429


def test_the_limit_is_per_referrer(client, referrer, ssp_area, caring_team, target, settings):
    settings.DUPLICATE_CHECKS_PER_HOUR = 1
    client.force_login(referrer)
    file_through_page(client, form_data(ssp_area, caring_team, id_number="A123456(3)", phone=""))
    colleague = factories.UserFactory()
    factories.MembershipFactory(user=colleague, service_unit=caring_team, role="referrer")
    client.force_login(colleague)
    assert file_through_page(client, form_data(ssp_area, caring_team)).status_code == 200


def test_a_forms_own_referral_is_not_its_duplicate(referrer, caring_team, ssp_area, client):
    """The window of item 18, without threads: the other request has just committed the
    form's referral when this one checks."""
    client.force_login(referrer)
    data = form_data(ssp_area, caring_team)
    file_through_page(client, data)
    submitted = Referral.objects.get()
    warning = duplicate_check(
        user=referrer,
        token=submitted.submission_token,
        id_hash=submitted.id_number_hash,
        phone=submitted.phone,
        names=(submitted.subject_name_zh,),
    )
    assert not warning
    another_form = duplicate_check(
        user=referrer, token=None, id_hash=submitted.id_number_hash, phone=submitted.phone
    )
    assert another_form.named  # a new form for the same person is warned, as before


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL (CI has it)"
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_form_posted_many_times_at_once_never_warns_about_itself(referrer, caring_team, ssp_area):
    data = form_data(ssp_area, caring_team)
    start = threading.Barrier(8)
    answers = []

    def post():
        try:
            browser = Client()
            browser.force_login(referrer)
            start.wait(10)
            answers.append(browser.post(NEW, data))
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert Referral.objects.count() == 1
    assert len(answers) == 8
    assert all(a.status_code == 302 for a in answers), [a.status_code for a in answers]
    assert not any(b"duplicate-warning" in a.content for a in answers)


def test_an_office_sees_links_to_its_own_districts_duplicates_only(client, district_officer):
    """Issue 14 item 13: the links on a referral's page name only duplicates the reader may
    open; another office's are a count, so neither office learns the other's references."""
    kwun_tong = factories.ReferralFactory(status="submitted", district=factories.district("J"))
    same_office = factories.ReferralFactory(status="submitted", district=factories.district("F"))
    referral = factories.ReferralFactory(status="submitted", district=factories.district("F"))
    referral.possible_duplicates.set([kwun_tong, same_office])
    client.force_login(district_officer)

    html = client.get(reverse("referrals:detail", args=[referral.public_id])).content.decode()

    assert same_office.reference in html
    assert kwun_tong.reference not in html
    assert 'id="duplicates-elsewhere"' in html
