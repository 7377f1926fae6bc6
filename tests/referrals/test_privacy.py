"""Privacy duties (PDPO): withdrawal of consent, retention, data access requests, the notice."""

import json
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from referrals import identity, privacy, tasks
from referrals.dashboard import dashboard_figures
from referrals.models import (
    AccessLog,
    Notification,
    Referral,
    ReferralEvent,
    Status,
)
from referrals.services import referral_accept, referral_complete, referral_start
from services.models import NeedCategory
from tests import factories

pytestmark = pytest.mark.django_db

HKID = "G123456A"
OTHER_PHONE = "+85261234567"


def protect(referral, number=HKID):
    referral.id_type = "hkid"
    referral.id_number_encrypted = identity.encrypt(number)
    referral.id_number_hash = identity.keyed_hash("hkid", number)
    referral.id_number_masked = identity.mask("hkid", number)
    referral.save()
    return referral


@pytest.fixture
def a_stranger(db):
    return factories.UserFactory(username="stranger")


@pytest.fixture
def person(referrer, caring_team, ifsc_unit, other_unit):
    """One person's referrals, and another person's."""

    def make(**kwargs):
        kwargs.setdefault("referrer", referrer)
        kwargs.setdefault("referring_team", caring_team)
        kwargs.setdefault("assigned_unit", ifsc_unit)
        return factories.ReferralFactory(**kwargs)

    origin = protect(make(status=Status.ASSIGNED))
    return {
        "origin": origin,
        # The same identity number, another phone.
        "same_id": protect(make(status=Status.IN_PROGRESS, phone=OTHER_PHONE)),
        # No identity number, the same phone line.
        "same_phone": make(status=Status.ACCEPTED),
        "closed": protect(make(status=Status.COMPLETED, outcome_summary="Meals arranged.")),
        "exempt": protect(
            make(
                status=Status.ASSIGNED,
                assigned_unit=other_unit,
                consent_basis="urgent_protection",
                consent_given_by="",
                consent_method="",
                consent_given_at=None,
                consent_exemption_reason="Signs of neglect; could not ask.",
            )
        ),
        "someone_else": protect(
            make(status=Status.ASSIGNED, phone="+85290000000", subject_name_en="Wong Siu Ming"),
            number="A1234563",
        ),
    }


def withdraw_url(referral):
    return reverse("privacy:withdraw_consent", args=[referral.public_id])


def withdrawal(referral, **overrides):
    data = {
        "withdrawn_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "method": "written",
        "note": "Letter received from the daughter.",
        "version": referral.version,
    }
    return data | overrides


def fresh(referral):
    return Referral.objects.get(pk=referral.pk)


# --- Withdrawal of consent -------------------------------------------------------------------


def confirming(referral, reach, **overrides):
    """The second POST: what the confirmation page sends back."""
    also = [f"{r.pk}:{r.version}" for r in reach]
    return withdrawal(referral, confirm="1", also=also, **overrides)


def test_withdrawal_lists_the_persons_visible_referrals_then_acts_only_on_confirming(
    client,
    person,
    district_officer,
    other_unit_worker,
    eager_tasks,
    django_capture_on_commit_callbacks,
):
    """issue 14 item 1: identity matches the actor may see are listed first (nothing
    changes), then withdrawn (or flagged) on confirming; the shared phone reaches nothing."""
    origin = person["origin"]
    client.force_login(district_officer)
    first = client.post(withdraw_url(origin), withdrawal(origin))
    assert first.status_code == 200
    html = first.content.decode()
    assert person["same_id"].reference in html and person["exempt"].reference in html
    assert person["same_phone"].reference not in html
    assert f'value="{person["same_id"].pk}:{person["same_id"].version}"' in html
    assert not ReferralEvent.objects.exists()  # the confirmation step changes nothing
    assert not Referral.objects.filter(consent_withdrawn_at__isnull=False).exists()

    reach = [person["same_id"], person["exempt"]]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(withdraw_url(origin), confirming(origin, reach))
    assert response.status_code == 302
    for key in ("origin", "same_id"):
        referral = fresh(person[key])
        assert referral.status == Status.CANCELLED, key
        assert referral.events.get(to_status=Status.CANCELLED).actor is None
        consent = referral.events.get(kind=ReferralEvent.Kind.CONSENT)
        assert consent.details["recorded_on"] == origin.reference
    assert fresh(origin).consent_withdrawal_method == "written"
    exempt = fresh(person["exempt"])
    assert exempt.status == Status.ASSIGNED and exempt.consent_withdrawn_at is not None
    told = Notification.objects.filter(referral=exempt, kind=Notification.Kind.CONSENT)
    assert other_unit_worker in {n.recipient for n in told}
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert person["same_id"].reference in message and person["exempt"].reference in message
    for key in ("same_phone", "closed", "someone_else"):
        untouched = fresh(person[key])
        assert (untouched.status, untouched.version) == (person[key].status, person[key].version)
        assert untouched.consent_withdrawn_at is None
        assert person[key].reference not in message


def test_a_shared_phone_in_another_team_is_untouched_and_not_named(
    client, person, referrer, other_unit
):
    """issue 14 item 1: a referral of another team and unit, only the phone in common."""
    stranger = factories.UserFactory(username="kwun-tong-referrer")
    mine = factories.ReferralFactory(
        status=Status.ASSIGNED, referrer=stranger, assigned_unit=other_unit
    )
    theirs = person["same_phone"]
    assert mine.phone == theirs.phone
    client.force_login(stranger)
    response = client.post(withdraw_url(mine), withdrawal(mine))
    assert response.status_code == 302  # nothing else reached: no confirmation step
    assert fresh(mine).status == Status.CANCELLED
    assert fresh(theirs).status == Status.ACCEPTED
    assert not fresh(theirs).events.exists()
    message = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert theirs.reference not in message and origin_refs(person) not in message


def origin_refs(person):
    return person["origin"].reference


def test_an_identity_match_the_actor_may_not_see_is_untouched_and_not_named(
    client, person, unit_worker
):
    """issue 14 item 1: the exempt referral is another unit's; the unit worker cannot see it."""
    origin = person["origin"]
    client.force_login(unit_worker)
    first = client.post(withdraw_url(origin), withdrawal(origin))
    assert first.status_code == 200
    assert person["exempt"].reference not in first.content.decode()
    response = client.post(withdraw_url(origin), confirming(origin, [person["same_id"]]))
    assert response.status_code == 302
    assert fresh(person["same_id"]).status == Status.CANCELLED
    exempt = fresh(person["exempt"])
    assert exempt.consent_withdrawn_at is None and not exempt.events.exists()
    message = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert person["exempt"].reference not in message


def test_confirming_without_the_listed_referrals_changes_nothing(client, person, unit_worker):
    """issue 14 item 1: a POST that skips the list (or lists other versions) is refused."""
    origin = person["origin"]
    client.force_login(unit_worker)
    response = client.post(withdraw_url(origin), confirming(origin, []))
    assert response.status_code == 302
    assert "changed while you were confirming" in " ".join(
        str(m) for m in get_messages(response.wsgi_request)
    )
    assert not ReferralEvent.objects.exists()


def test_the_form_does_not_choose_the_method(client, person, unit_worker):
    """issue 14 item 1: the person's way of withdrawing must be chosen."""
    client.force_login(unit_worker)
    url = reverse("referrals:detail", args=[person["origin"].public_id])
    html = client.get(url).content.decode()
    assert '<option value="" selected>' in html
    response = client.post(withdraw_url(person["origin"]), withdrawal(person["origin"], method=""))
    assert "required" in " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert not ReferralEvent.objects.exists()


@pytest.mark.parametrize("persona", ["referrer", "district_officer", "unit_worker"])
def test_the_referrer_the_unit_and_the_office_may_record_it(client, request, person, persona):
    origin = person["origin"]
    client.force_login(request.getfixturevalue(persona))
    reach = [person["same_id"]] + ([person["exempt"]] if persona != "unit_worker" else [])
    response = client.post(withdraw_url(origin), confirming(origin, reach))
    assert response.status_code == 302
    assert fresh(origin).status == Status.CANCELLED
    assert fresh(person["same_id"]).status == Status.CANCELLED


@pytest.mark.parametrize("persona", ["other_unit_worker", "other_district_officer", "a_stranger"])
def test_outsiders_get_404_and_nothing_changes(client, request, person, persona):
    origin = person["origin"]
    client.force_login(request.getfixturevalue(persona))
    assert client.post(withdraw_url(origin), withdrawal(origin)).status_code == 404
    assert not ReferralEvent.objects.exists()
    assert not Referral.objects.filter(consent_withdrawn_at__isnull=False).exists()


def test_a_stale_version_is_a_conflict_that_changes_nothing(client, person, unit_worker):
    origin = person["origin"]
    client.force_login(unit_worker)
    referral_accept(referral_id=origin.pk, actor=unit_worker)  # someone acted meanwhile
    old = confirming(origin, [person["same_id"]])  # the old version
    response = client.post(withdraw_url(origin), old)
    assert response.status_code == 302
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "Someone else changed this referral" in message
    assert fresh(origin).status == Status.ACCEPTED
    assert not Referral.objects.filter(consent_withdrawn_at__isnull=False).exists()
    assert not ReferralEvent.objects.filter(kind=ReferralEvent.Kind.CONSENT).exists()
    assert fresh(person["same_id"]).status == Status.IN_PROGRESS


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"method": "telepathy"}, "Select a valid choice"),
        ({"withdrawn_at": "yesterday"}, "Enter a valid date/time"),
        ({"withdrawn_at": "2099-01-01T10:00"}, "cannot be in the future"),
    ],
)
def test_bad_input_is_a_clear_error_that_changes_nothing(
    client, person, unit_worker, overrides, expected
):
    origin = person["origin"]
    client.force_login(unit_worker)
    reach = [person["same_id"]]
    response = client.post(withdraw_url(origin), confirming(origin, reach, **overrides))
    messages = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert expected in messages
    assert not ReferralEvent.objects.exists()
    assert fresh(origin).status == Status.ASSIGNED


def test_it_is_recorded_once_and_shown_on_the_page(client, person, unit_worker):
    origin = person["origin"]
    client.force_login(unit_worker)
    url = reverse("referrals:detail", args=[origin.public_id])
    assert 'id="consent-withdrawal"' in client.get(url).content.decode()
    client.post(withdraw_url(origin), confirming(origin, [person["same_id"]]))
    html = client.get(url).content.decode()
    assert 'id="consent-withdrawn"' in html
    assert 'id="consent-withdrawal"' not in html  # the form is gone
    again = client.post(withdraw_url(origin), withdrawal(fresh(origin)))
    assert "already recorded" in " ".join(str(m) for m in get_messages(again.wsgi_request))
    assert fresh(origin).events.filter(kind=ReferralEvent.Kind.CONSENT).count() == 1


# --- Retention -------------------------------------------------------------------------------


@pytest.fixture
def aged(referrer, caring_team, ifsc_unit):
    """An old closed referral (closed just over RETENTION_YEARS ago), a recently closed one
    and an old open one, each with a timeline."""
    now = timezone.now()
    years = timedelta(days=365 * 7 + 2)

    def make(status, closed_at, **kwargs):
        referral = protect(
            factories.ReferralFactory(
                referrer=referrer,
                referring_team=caring_team,
                assigned_unit=ifsc_unit,
                status=status,
                closed_at=closed_at,
                address="Flat A, 1/F, Synthetic Building",
                situation="Husband in hospital.",
                referrer_contact="caring team hotline",
                outcome_summary="Meals arranged." if closed_at else "",
                services_provided="Meal delivery" if closed_at else "",
                duplicate_note="Same lady as last spring.",
                age=78,
                sex="female",
                household="lives_alone",
                **kwargs,
            )
        )
        referral.needs.set(NeedCategory.objects.filter(code="elderly_care"))
        ReferralEvent.objects.create(
            referral=referral,
            actor=referrer,
            from_status=Status.IN_PROGRESS,
            to_status=status,
            reason="She moved in with her son." if closed_at else "",
            note="Son's phone 9123 4567",
        )
        return referral

    old = make(Status.COMPLETED, now - years, submitted_at=now - years - timedelta(days=30))
    recent = make(Status.CANCELLED, now - timedelta(days=200))
    still_open = make(Status.IN_PROGRESS, None, submitted_at=now - years - timedelta(days=30))
    Referral.objects.filter(pk=still_open.pk).update(updated_at=now - years)
    old.possible_duplicates.add(recent)
    return {"old": old, "recent": recent, "open": still_open}


def test_old_closed_referrals_lose_their_personal_data_and_nothing_else(aged):
    result = privacy.referrals_anonymise_expired()
    assert result == privacy.RetentionResult(referrals=1, events=1, batches=1)

    old = fresh(aged["old"])
    assert old.anonymised_at is not None
    for name, blank in privacy.PERSONAL_FIELDS_CLEARED.items():
        assert getattr(old, name) in (blank, None), name
    assert old.phone in ("", None)
    # What the statistics count stays.
    assert (old.status, old.district_id, old.assigned_unit_id) == (
        Status.COMPLETED,
        aged["old"].district_id,
        aged["old"].assigned_unit_id,
    )
    kept = (old.age, old.sex, old.household, old.risk_level)
    assert kept == (78, "female", "lives_alone", "routine")
    assert list(old.needs.values_list("code", flat=True)) == ["elderly_care"]
    assert old.submitted_at == aged["old"].submitted_at
    event = old.events.get()
    assert (event.reason, event.note, event.to_status) == ("", "", Status.COMPLETED)
    assert not old.possible_duplicates.exists()

    for key in ("recent", "open"):
        untouched = fresh(aged[key])
        assert untouched.anonymised_at is None
        assert untouched.subject_name_en == "Chan Tai Man"
        assert untouched.id_number_hash == identity.keyed_hash("hkid", HKID)
        assert untouched.events.get().note == "Son's phone 9123 4567"


def test_running_it_again_changes_nothing(aged):
    privacy.referrals_anonymise_expired()
    before = {r.pk: (r.version, r.updated_at) for r in Referral.objects.all()}
    assert privacy.referrals_anonymise_expired() == privacy.RetentionResult()
    assert {r.pk: (r.version, r.updated_at) for r in Referral.objects.all()} == before


def test_it_works_in_batches_each_committed(referrer, caring_team):
    long_ago = timezone.now() - timedelta(days=365 * 8)
    factories.ReferralFactory.create_batch(
        5, referrer=referrer, referring_team=caring_team, status="failed", closed_at=long_ago
    )
    result = privacy.referrals_anonymise_expired(batch_size=2)
    assert (result.referrals, result.batches) == (5, 3)
    assert not Referral.objects.filter(anonymised_at__isnull=True).exists()


def test_the_retention_period_comes_from_the_setting(settings, aged):
    settings.RETENTION_YEARS = 10
    assert privacy.referrals_anonymise_expired().referrals == 0
    settings.RETENTION_YEARS = 1
    assert privacy.referrals_anonymise_expired().referrals == 1  # "recent" closed 200 days ago
    settings.RETENTION_YEARS = 7


def test_the_dashboard_figures_are_the_same_before_and_after(
    referrer, caring_team, ifsc_unit, unit_worker
):
    """Referrals closed this month are anonymised with the clock set past their retention
    period; the figures drawn at today's clock do not move."""
    needs = NeedCategory.objects.filter(code__in=["elderly_care", "financial_hardship"])
    for index in range(4):
        referral = protect(
            factories.ReferralFactory(
                referrer=referrer,
                referring_team=caring_team,
                status="assigned",
                assigned_unit=ifsc_unit,
                risk_factors=["carer_hospitalised"] if index % 2 else [],
                risk_level="priority" if index % 2 else "routine",
            )
        )
        referral.needs.set(needs[: index % 2 + 1])
        referral_accept(referral_id=referral.pk, actor=unit_worker)
        if index < 3:
            referral_start(referral_id=referral.pk, actor=unit_worker)
            referral_complete(referral_id=referral.pk, actor=unit_worker, outcome="Helped.")
    district = factories.district("F")
    now = timezone.now()
    before = dashboard_figures(districts=[district], now=now)

    later = now + timedelta(days=365 * 8)
    assert privacy.referrals_anonymise_expired(now=later).referrals == 3

    assert dashboard_figures(districts=[district], now=now) == before
    assert before.total.accepted == 4


def test_closing_starts_the_retention_clock(assigned_referral, unit_worker):
    referral_accept(referral_id=assigned_referral.pk, actor=unit_worker)
    referral_start(referral_id=assigned_referral.pk, actor=unit_worker)
    assert fresh(assigned_referral).closed_at is None
    referral_complete(referral_id=assigned_referral.pk, actor=unit_worker, outcome="Helped.")
    closing = fresh(assigned_referral).events.get(to_status=Status.COMPLETED)
    assert abs(fresh(assigned_referral).closed_at - closing.at) < timedelta(seconds=5)


def test_the_daily_task_runs_the_sweep_and_is_scheduled(settings, aged):
    assert tasks.anonymise_expired_referrals() == {"referrals": 1, "events": 1, "batches": 1}
    entry = settings.CELERY_BEAT_SCHEDULE["anonymise-expired"]
    assert entry["task"] == "referrals.tasks.anonymise_expired_referrals"


@pytest.mark.parametrize("persona", ["district_officer", "admin_user", "unit_worker"])
def test_the_page_of_an_anonymised_referral_still_renders(client, request, aged, persona):
    privacy.referrals_anonymise_expired()
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("referrals:detail", args=[aged["old"].public_id]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="anonymised"' in html
    assert "removed" in html and "retention policy" in html
    assert "Chan Tai Man" not in html and "Synthetic Building" not in html
    assert "Son&#x27;s phone" not in html and "Son's phone" not in html


# --- Data access requests --------------------------------------------------------------------

ACCESS = reverse("privacy:access_request")


def test_an_administrator_downloads_everything_held_about_the_person_by_identity_number(
    client, admin_user, person, unit_worker
):
    referral_accept(referral_id=person["origin"].pk, actor=unit_worker, note="Called her.")
    AccessLog.objects.create(user=unit_worker, referral=person["origin"], channel="page")
    client.force_login(admin_user)
    response = client.post(ACCESS, {"id_type": "hkid", "id_number": "g123456(a)"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith('attachment; filename="data-access-')
    package = json.loads(response.content)
    references = {r["reference"] for r in package["referrals"]}
    with_id = {"origin", "same_id", "closed", "exempt"}
    assert references == {person[key].reference for key in with_id}
    assert package["request"]["criteria"]["identity_number"] == "G12****(*)"
    origin = next(r for r in package["referrals"] if r["reference"] == person["origin"].reference)
    assert origin["person"]["name_en"] == "Chan Tai Man"
    assert origin["person"]["identity_number"] == "G12****(*)"
    assert origin["timeline"][0]["note"] == "Called her."
    assert origin["timeline"][0]["by"].endswith("(unit-worker)")
    assert [a["user"].endswith("(unit-worker)") for a in origin["accessed_by"]] == [True]
    # The export itself is logged against each referral in it.
    exports = AccessLog.objects.filter(user=admin_user, channel=AccessLog.Channel.EXPORT)
    assert {log.referral.reference for log in exports} == references


def test_by_name_and_phone(client, admin_user, person):
    client.force_login(admin_user)
    response = client.post(ACCESS, {"name": "chan tai man", "phone": "9123 4567"})
    assert response.status_code == 200
    references = {r["reference"] for r in json.loads(response.content)["referrals"]}
    assert references == {person[k].reference for k in ("origin", "same_phone", "closed", "exempt")}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"id_type": "hkid", "id_number": "G123456(7)"}, "check digit does not match"),
        ({"id_type": "hkid", "id_number": "not an id"}, "like A123456(7)"),
        ({"id_number": "G123456(A)"}, "Choose the kind of identity document."),
        ({}, "Give an identity number, or a name together with a phone number."),
        ({"name": "Chan Tai Man"}, "Give an identity number, or a name together with a phone"),
        ({"name": "Chan Tai Man", "phone": "12"}, "valid phone number"),
    ],
)
def test_bad_input_gives_a_form_error_and_changes_nothing(
    client, admin_user, person, data, expected
):
    client.force_login(admin_user)
    response = client.post(ACCESS, data)
    assert response.status_code == 400
    assert expected in response.content.decode()
    assert not AccessLog.objects.exists()


def test_the_form_errors_are_translated(client, admin_user, person):
    client.force_login(admin_user)
    client.cookies["django_language"] = "zh-hant"
    response = client.post(ACCESS, {"id_type": "hkid", "id_number": "G123456(7)"})
    assert response.status_code == 400
    assert "身份證號碼無效：檢查碼不相符。" in response.content.decode()


@pytest.mark.parametrize(
    "persona", ["referrer", "unit_worker", "district_officer", "other_district_officer"]
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_non_administrators_get_404(client, request, person, persona, method):
    client.force_login(request.getfixturevalue(persona))
    response = getattr(client, method)(ACCESS, {"id_type": "hkid", "id_number": HKID})
    assert response.status_code == 404
    assert not AccessLog.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client):
    assert client.get(ACCESS).url.startswith(reverse("login"))


def queries_for(client, method, url, data=None):
    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(url, data or {})
    assert response.status_code == 200
    return len(queries)


def test_query_counts_are_pinned(client, admin_user, person, django_assert_num_queries):
    client.force_login(admin_user)
    client.get(ACCESS)  # the session is loaded once; count the steady state
    # session, user, its verified second factor, the header's notifications
    with django_assert_num_queries(4):
        client.get(ACCESS)
    data = {"id_type": "hkid", "id_number": HKID}
    few = queries_for(client, "post", ACCESS, data)
    for _ in range(5):
        protect(factories.ReferralFactory(status="completed"))
    # 11: the referrals' package and, registered by outreach, the person's households.
    assert queries_for(client, "post", ACCESS, data) == few == 11


# --- The privacy notice ----------------------------------------------------------------------

NOTICE = reverse("privacy:notice")


def test_the_notice_is_public_and_states_the_retention_period(
    client, settings, django_assert_num_queries
):
    settings.RETENTION_YEARS = 9
    with django_assert_num_queries(0):
        response = client.get(NOTICE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Personal Information Collection Statement" in html
    assert "<strong>9 years</strong>" in html
    assert "sections 18 and 22" in html
    assert "District Social Welfare Office" in html and "(API)" in html
    assert settings.PRIVACY_CONTACT_EMAIL in html


def test_the_notice_in_traditional_chinese(client, settings):
    settings.RETENTION_YEARS = 9
    client.cookies["django_language"] = "zh-hant"
    html = client.get(NOTICE).content.decode()
    assert '<html lang="zh-Hant-HK">' in html
    assert "保留 <strong>9 年</strong>" in html
    assert "第18及22條" in html
    assert "區域福利辦事處" in html
    assert "retention_years" not in html and "Classes of transferees" not in html


def test_the_notice_is_linked_from_every_page_and_the_referral_form(client, referrer):
    assert NOTICE in client.get(reverse("login")).content.decode()
    client.force_login(referrer)
    form = client.get(reverse("referrals:new")).content.decode()
    assert 'id="privacy-statement"' in form and NOTICE in form


def test_anonymising_clears_a_transfers_handover_note_and_reasons(aged, district_officer):
    """A handover note describes the person (issue 17): it goes with the personal data."""
    from referrals.models import TransferCase, TransferPlan

    old = aged["old"]
    plan = TransferPlan.objects.create(
        kind="unit",
        title="Earlier move",
        from_unit=old.assigned_unit,
        effective_on=timezone.localdate(),
        created_by=district_officer,
        state="done",
    )
    cases = [
        TransferCase.objects.create(
            plan=plan,
            task=referral.tasks.get(),
            referral=referral,
            from_unit=referral.assigned_unit,
            to_unit=referral.assigned_unit,
            state="accepted",
            handover_note="Son's phone 9123 4567",
            not_informed_reason="Son abroad",
            answer_reason="ok",
        )
        for referral in (old, aged["recent"])
    ]
    privacy.referrals_anonymise_expired()
    cleared, kept = (TransferCase.objects.get(pk=case.pk) for case in cases)
    assert (cleared.handover_note, cleared.not_informed_reason, cleared.answer_reason) == ("",) * 3
    assert kept.handover_note == "Son's phone 9123 4567"
