"""Pre-primary matching (issue 17): each team's children against its capacity (one social
worker to 400 children), the hot spots, a proposal that keeps the pairings it can, and
applying it: the institutions change team and the open cases of their children are planned
to move, one transfer plan per sending team. Only the office covering the districts (or
headquarters) sees the page and applies it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from referrals import matching
from referrals.errors import NotPermitted
from referrals.matching import MatchingError, MoveSpec
from referrals.models import TransferCase, TransferPlan
from services.models import Institution
from tests import factories

pytestmark = pytest.mark.django_db

PAGE = reverse("referrals:matching")
SSP = "F"


def team(code, social_workers, **extra):
    return factories.ServiceUnitFactory(
        code=code,
        unit_type=factories.unit_type("PPSW"),
        social_workers=social_workers,
        catchment_districts=[factories.district(SSP)],
        **extra,
    )


def institution(code, enrolment, area, matched_team=None, **extra):
    return Institution.objects.create(
        code=code,
        name_en=f"{code} Kindergarten (test)",
        name_zh=f"{code}幼稚園（測試）",
        district=area.district,
        sub_district=area,
        enrolment=enrolment,
        matched_team=matched_team,
        **extra,
    )


@pytest.fixture
def areas(ssp_area):
    return ssp_area, factories.SubDistrictFactory(code="F02", district=ssp_area.district)


@pytest.fixture
def office(areas):
    """Three Sham Shui Po teams: ``big`` (1 social worker: 400 children) holds 450 children,
    ``near`` (800) has a kindergarten in F01, ``roomy`` (1200) one in F02; kg7 has no team."""
    f01, f02 = areas
    teams = {
        "big": team("ppsw-big", 1),
        "near": team("ppsw-near", 2),
        "roomy": team("ppsw-roomy", 3),
    }
    schools = {
        "kg1": institution("kg1", 150, f01, teams["big"]),
        "kg2": institution("kg2", 120, f01, teams["big"]),
        "kg3": institution("kg3", 100, f02, teams["big"]),
        "kg4": institution("kg4", 80, f01, teams["big"]),
        "kg5": institution("kg5", 300, f01, teams["near"]),
        "kg6": institution("kg6", 200, f02, teams["roomy"]),
        "kg7": institution("kg7", 90, f02),
    }
    return teams, schools


def loads(result):
    return {row.team.code: (row.load, row.capacity, row.over) for row in result.teams}


def test_loads_against_capacity_and_the_hot_spots(office):
    teams, schools = office
    # An institution no longer active counts in no figure.
    institution("kg-closed", 500, schools["kg1"].sub_district, teams["near"], is_active=False)

    result = matching.office_matching([factories.district(SSP).pk])

    assert loads(result) == {
        "ppsw-big": (450, 400, True),
        "ppsw-near": (300, 800, False),
        "ppsw-roomy": (200, 1200, False),
    }
    assert [t.team.code for t in result.over_capacity] == ["ppsw-big"]
    assert [i.code for i in result.without_team] == ["kg7"]
    assert result.hot_spots == 2
    assert {t.team.code: t.institutions for t in result.teams} == {
        "ppsw-big": 4,
        "ppsw-near": 1,
        "ppsw-roomy": 1,
    }


def test_the_proposal_keeps_pairings_and_brings_the_team_within_capacity(office):
    teams, schools = office

    proposal = matching.propose([factories.district(SSP).pk])

    moves = [(m.institution.code, m.from_team_id, m.to_team.code) for m in proposal.moves]
    # kg7 to the team present in its sub-district with room; then the smallest institution
    # that alone brings ppsw-big within capacity, to the team present in its sub-district.
    assert moves == [("kg7", None, "ppsw-roomy"), ("kg4", teams["big"].pk, "ppsw-near")]
    first, second = proposal.moves
    assert (first.to_load_before, first.to_load_after) == (200, 290)
    assert (second.from_load_before, second.from_load_after) == (450, 370)
    assert (second.to_load_before, second.to_load_after) == (300, 380)
    assert proposal.loads_after == {
        teams["big"].pk: 370,
        teams["near"].pk: 380,
        teams["roomy"].pk: 290,
    }
    assert proposal.unplaced == [] and proposal.still_over == []


def test_a_team_with_no_room_anywhere_is_reported_not_moved(areas):
    f01, _f02 = areas
    full = team("ppsw-full", 1)
    other = team("ppsw-other", 1)
    institution("kg-a", 300, f01, full)
    institution("kg-b", 300, f01, full)
    institution("kg-c", 350, f01, other)

    proposal = matching.propose([f01.district_id])

    assert proposal.moves == []
    assert [t.team.code for t in proposal.still_over] == ["ppsw-full"]


@pytest.fixture
def five_kindergartens(areas, referrer, caring_team):
    """``giver`` (400 children) holds nine kindergartens of 100: 500 too many, so five move;
    ``near`` (in F01, room for 300) takes three, ``far`` (room for 800) the other two. Each
    kindergarten has an open case with ``giver``; kg-1 also a closed one."""
    f01, f02 = areas
    giver, near, far = team("ppsw-giver", 1), team("ppsw-near", 1), team("ppsw-far", 2)
    institution("kg-near", 100, f01, near)
    schools = [institution(f"kg-{n}", 100, f01 if n < 5 else f02, giver) for n in range(1, 10)]
    cases = {}
    for number, school in enumerate(schools):
        cases[school.code] = factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            sub_district=school.sub_district,
            status=("accepted", "in_progress", "on_hold")[number % 3],
            assigned_unit=giver,
            institution=school,
        )
    factories.ReferralFactory(
        referrer=referrer, status="completed", assigned_unit=giver, institution=schools[0]
    )
    return {"giver": giver, "near": near, "far": far}, schools, cases


def keys_of(proposal):
    return [move.key for move in proposal.moves]


def test_a_rematching_of_five_kindergartens_plans_the_move_of_their_open_cases(
    client, district_officer, five_kindergartens
):
    teams, schools, cases = five_kindergartens
    proposal = matching.propose([factories.district(SSP).pk])
    assert len(proposal.moves) == 5
    assert {m.to_team.code for m in proposal.moves} == {"ppsw-near", "ppsw-far"}
    effective = timezone.localdate() + timedelta(days=14)
    client.force_login(district_officer)

    response = client.post(
        PAGE,
        {"move": keys_of(proposal), "effective_on": effective.isoformat(), "title": "Re-match"},
    )

    assert response.status_code == 302
    assert response.url.startswith(reverse("referrals:transfer_list"))
    plan = TransferPlan.objects.get()
    assert (plan.kind, plan.reason, plan.from_unit, plan.effective_on, plan.title) == (
        "unit",
        "rematching",
        teams["giver"],
        effective,
        "Re-match",
    )
    new_team = {m.institution.code: m.to_team for m in proposal.moves}
    expected = {(cases[code].pk, unit.pk) for code, unit in new_team.items()}
    assert set(plan.cases.values_list("referral_id", "to_unit_id")) == expected
    assert plan.cases.count() == 5  # the closed case and the kindergartens that stay: not moved
    for code, unit in new_team.items():
        assert Institution.objects.get(code=code).matched_team == unit
    stayed = [s.code for s in schools if s.code not in new_team]
    assert set(
        Institution.objects.filter(code__in=stayed).values_list("matched_team", flat=True)
    ) == {teams["giver"].pk}
    after = matching.office_matching([factories.district(SSP).pk])
    assert not after.over_capacity


def test_one_plan_per_sending_team(admin_user, five_kindergartens, areas):
    teams, schools, cases = five_kindergartens
    other_school = Institution.objects.get(code="kg-near")
    referral = factories.ReferralFactory(
        status="accepted", assigned_unit=teams["near"], institution=other_school
    )
    moves = [
        MoveSpec(schools[0].pk, teams["giver"].pk, teams["far"].pk),
        MoveSpec(other_school.pk, teams["near"].pk, teams["far"].pk),
    ]

    plans = matching.apply(
        actor=admin_user, moves=moves, effective_on=timezone.localdate(), title="Two teams"
    )

    assert sorted(p.from_unit.code for p in plans) == ["ppsw-giver", "ppsw-near"]
    assert {p.reason for p in plans} == {"rematching"}
    moved = set(TransferCase.objects.values_list("referral_id", "to_unit__code"))
    assert moved == {(cases["kg-1"].pk, "ppsw-far"), (referral.pk, "ppsw-far")}


def test_ticked_moves_only_and_a_stale_proposal_changes_nothing(client, district_officer, office):
    teams, schools = office
    proposal = matching.propose([factories.district(SSP).pk])
    kg7_key, kg4_key = keys_of(proposal)
    client.force_login(district_officer)
    data = {"effective_on": timezone.localdate().isoformat(), "title": "Only kg7"}

    response = client.post(PAGE, {**data, "move": [kg7_key]})

    assert response.status_code == 302
    assert Institution.objects.get(code="kg7").matched_team == teams["roomy"]
    assert Institution.objects.get(code="kg4").matched_team == teams["big"]  # left out
    assert not TransferPlan.objects.exists()  # kg7 had no team, so no case to move

    # Someone moved kg4 meanwhile: the move read before is refused, nothing changes.
    Institution.objects.filter(code="kg4").update(matched_team=teams["roomy"])
    with pytest.raises(MatchingError) as refused:
        matching.apply(
            actor=district_officer,
            moves=[MoveSpec.parse(kg4_key)],
            effective_on=timezone.localdate(),
            title="Stale",
        )
    assert "re-matched since" in refused.value.problems[0]
    assert Institution.objects.get(code="kg4").matched_team == teams["roomy"]


def test_an_effective_date_in_the_past_is_a_field_error(client, district_officer, office):
    proposal = matching.propose([factories.district(SSP).pk])
    client.force_login(district_officer)
    yesterday = timezone.localdate() - timedelta(days=1)

    response = client.post(
        PAGE, {"move": keys_of(proposal), "effective_on": yesterday.isoformat(), "title": "x"}
    )

    assert response.status_code == 400
    assert "effective_on" in response.context["form"].errors
    assert Institution.objects.get(code="kg7").matched_team is None


def test_the_page_shows_loads_hot_spots_and_the_proposal(
    client, district_officer, office, areas, django_assert_max_num_queries
):
    client.force_login(district_officer)
    client.get(PAGE)  # the session's first read

    with django_assert_max_num_queries(9):
        response = client.get(PAGE)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-code="ppsw-big" class="hot-spot"' in html
    assert "450" in html and "over capacity" in html
    assert 'class="hot-spot-institution"' in html and "kg7 Kindergarten (test)" in html
    assert html.count('name="move"') == 2
    assert 'data-institution="kg4"' in html

    # Twenty more institutions cost no query more.
    for n in range(20):
        institution(f"kg-more-{n}", 10, areas[0], office[0]["roomy"])
    with django_assert_max_num_queries(9):
        assert client.get(PAGE).status_code == 200


@pytest.mark.parametrize("persona", ["other_district_officer", "unit_worker", "referrer"])
def test_outsiders_get_a_404_and_change_nothing(client, request, persona, office):
    proposal = matching.propose([factories.district(SSP).pk])
    client.force_login(request.getfixturevalue(persona))
    data = {
        "move": keys_of(proposal),
        "effective_on": timezone.localdate().isoformat(),
        "title": "x",
    }

    assert client.get(f"{PAGE}?district={SSP}").status_code == 404
    if persona != "other_district_officer":
        assert client.get(PAGE).status_code == 404
        assert client.post(PAGE, data).status_code == 404
    else:  # their own office's page: none of Sham Shui Po's teams, moves or institutions
        page = client.get(PAGE).content.decode()
        assert "ppsw-big" not in page and "kg7" not in page
        assert client.post(PAGE, data).status_code == 400  # not moves of their proposal
    assert client.post(f"{PAGE}?district={SSP}", data).status_code == 404
    assert Institution.objects.get(code="kg7").matched_team is None
    assert not TransferPlan.objects.exists()


def test_apply_refuses_an_officer_of_another_district(other_district_officer, office):
    proposal = matching.propose([factories.district(SSP).pk])

    with pytest.raises(NotPermitted):
        matching.apply(
            actor=other_district_officer,
            moves=proposal.moves,
            effective_on=timezone.localdate(),
            title="Not mine",
        )
    assert Institution.objects.get(code="kg7").matched_team is None


def test_headquarters_sees_every_district_and_may_choose_one(client, admin_user, office):
    client.force_login(admin_user)

    assert client.get(PAGE).status_code == 200
    response = client.get(f"{PAGE}?district={SSP}")
    assert response.status_code == 200
    assert [d.code for d in response.context["districts"]] == [SSP]


# --- The directory: institutions in the admin ----------------------------------------------


def test_institutions_are_imported_by_code_and_a_team_must_be_pre_primary(areas):
    import tablib

    from services.resources import InstitutionResource

    f01, _f02 = areas
    team("ppsw-import", 2)
    factories.ServiceUnitFactory(code="ifsc-import")
    header = ["code", "kind", "name_en", "name_zh", "district", "sub_district", "enrolment"]
    rows = [
        ["kg-new", "kindergarten", "New KG", "新幼稚園", SSP, f01.code, "120", "ppsw-import"],
        ["kg-bad", "kindergarten", "Bad KG", "壞幼稚園", SSP, f01.code, "90", "ifsc-import"],
    ]
    data = tablib.Dataset(*rows, headers=[*header, "matched_team"])

    result = InstitutionResource().import_data(data, dry_run=False, raise_errors=False)

    assert result.has_errors()
    assert "is not a pre-primary social work team" in str(result.row_errors()[0][1][0].error)
    assert not Institution.objects.exists()  # all or nothing
    result = InstitutionResource().import_data(tablib.Dataset(*rows[:1], headers=data.headers))
    assert not result.has_errors()
    made = Institution.objects.get(code="kg-new")
    assert (made.matched_team.code, made.sub_district, made.enrolment) == ("ppsw-import", f01, 120)


def test_the_admin_lists_institutions_with_their_team(client, admin_user, office):
    client.force_login(admin_user)

    response = client.get(reverse("admin:services_institution_changelist"))

    assert response.status_code == 200
    assert "kg1 Kindergarten (test)" in response.content.decode()
