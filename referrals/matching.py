"""Pre-primary re-matching (issue 17): each pre-primary social work team's load against its
capacity, the hot spots, a proposed re-matching and applying it as transfer plans.

A team (a ``ServiceUnit`` of type PPSW) serves the children of the kindergartens and child
care centres matched to it (``Institution.matched_team``). Its load is the children enrolled
in its active institutions; its capacity follows from its social workers, one to 400
children (``ServiceUnit.children_capacity``). The district office sees its districts' teams
(``office_matching``); a hot spot is a team over capacity, or an institution without a team
(or whose team is no longer active).

``propose`` keeps every existing pairing it can, because each pairing is a set of case
relationships: it only moves institutions off teams over capacity (the fewest, then the
smallest, that bring the team within capacity) and places institutions without a team, each
onto a team with room for its children, preferring a team already present in the
institution's sub-district, then a team of its district. ``apply`` makes the moves and a
transfer plan per sending team for the open cases of the children of the moved institutions
(``transfer_plans.plan_create``), each case to its institution's new team.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.selectors import user_scope
from referrals.errors import NotPermitted, ReasonRequired, ReferralError
from referrals.models import TransferPlan
from referrals.transfer_plans import CaseSpec, open_cases, plan_create
from services.models import Institution, ServiceUnit

PPSW = "PPSW"


class MatchingError(ReferralError):
    """The re-matching cannot be applied as asked; nothing was changed. ``problems`` lists
    what is wrong, move by move."""

    def __init__(self, message, problems=None):
        super().__init__(message)
        self.problems = list(problems or [])


@dataclass
class TeamLoad:
    """A team's children (``load``) against the children it can serve (``capacity``), and
    where it is present: the districts it serves and the sub-districts of its catchment and
    of its institutions (the proposal's preferences)."""

    team: ServiceUnit
    load: int
    capacity: int
    institutions: int = 0
    district_ids: frozenset[int] = frozenset()
    sub_district_ids: set[int] = field(default_factory=set)

    @property
    def over(self) -> bool:
        return self.load > self.capacity

    @property
    def spare(self) -> int:
        return max(self.capacity - self.load, 0)

    @property
    def percent(self) -> int | None:
        return round(self.load * 100 / self.capacity) if self.capacity else None

    @property
    def takes_institutions(self) -> bool:
        return self.team.is_active and self.capacity > 0


@dataclass
class Matching:
    """The teams and active institutions of some districts, as they are matched now."""

    district_ids: tuple[int, ...]
    teams: list[TeamLoad]
    institutions: list[Institution]

    def team(self, team_id: int | None) -> TeamLoad | None:
        return next((t for t in self.teams if t.team.pk == team_id), None)

    @property
    def over_capacity(self) -> list[TeamLoad]:
        return [t for t in self.teams if t.over]

    @property
    def without_team(self) -> list[Institution]:
        """Institutions with no team, or whose team no longer takes referrals."""
        active = {t.team.pk for t in self.teams if t.team.is_active}
        return [i for i in self.institutions if i.matched_team_id not in active]

    @property
    def hot_spots(self) -> int:
        return len(self.over_capacity) + len(self.without_team)


def may_rematch(actor: User, district_ids) -> bool:
    """Headquarters, or an office covering every one of ``district_ids``."""
    if actor.is_administrator:
        return True
    covered = set(user_scope(actor).district_ids)
    return bool(covered) and set(district_ids) <= covered


def office_matching(district_ids) -> Matching:
    """The PPSW teams serving ``district_ids`` (or matched to an institution there), each
    with its whole load, and the districts' active institutions; four queries."""
    ids = tuple(sorted(district_ids))
    serving = (
        Q(district_id__in=ids)
        | Q(catchment_districts__in=ids)
        | Q(catchment_sub_districts__district_id__in=ids)
    )
    team_ids = ServiceUnit.objects.filter(unit_type__code=PPSW).filter(
        (serving & Q(is_active=True)) | Q(institutions__district_id__in=ids)
    )
    load = (
        Institution.objects.filter(matched_team=OuterRef("pk"), is_active=True)
        .order_by()
        .values("matched_team")
        .annotate(total=Sum("enrolment"))
        .values("total")
    )
    teams = (
        ServiceUnit.objects.filter(pk__in=team_ids.values("pk"))
        .annotate(children=Coalesce(Subquery(load), 0))
        .select_related("district")
        .prefetch_related("catchment_districts", "catchment_sub_districts")
        .order_by("district__code", "code")
    )
    institutions = list(
        Institution.objects.filter(district_id__in=ids, is_active=True)
        .select_related("district", "sub_district", "matched_team")
        .order_by("district__code", "sub_district__code", "name_en", "pk")
    )
    loads = []
    for team in teams:
        areas = list(team.catchment_sub_districts.all())
        loads.append(
            TeamLoad(
                team=team,
                load=team.children,
                capacity=team.children_capacity,
                district_ids=frozenset(
                    {team.district_id}
                    | {d.pk for d in team.catchment_districts.all()}
                    | {s.district_id for s in areas}
                ),
                sub_district_ids={s.pk for s in areas},
            )
        )
    by_team = {t.team.pk: t for t in loads}
    for institution in institutions:
        holder = by_team.get(institution.matched_team_id)
        if holder is not None:
            holder.institutions += 1
            if institution.sub_district_id:
                holder.sub_district_ids.add(institution.sub_district_id)
    return Matching(district_ids=ids, teams=loads, institutions=institutions)


@dataclass(frozen=True)
class Move:
    """One institution to another team, with both teams' loads before and after the move
    (in the order the proposal makes its moves)."""

    institution: Institution
    from_team: ServiceUnit | None
    to_team: ServiceUnit
    from_load_before: int | None
    from_load_after: int | None
    to_load_before: int
    to_load_after: int

    @property
    def institution_id(self) -> int:
        return self.institution.pk

    @property
    def from_team_id(self) -> int | None:
        return self.from_team.pk if self.from_team else None

    @property
    def to_team_id(self) -> int:
        return self.to_team.pk

    @property
    def key(self) -> str:
        """The move as a form value: ``institution:from team:to team``."""
        return f"{self.institution_id}:{self.from_team_id or ''}:{self.to_team_id}"


@dataclass(frozen=True)
class MoveSpec:
    """A move asked for (a posted ``Move.key``)."""

    institution_id: int
    from_team_id: int | None
    to_team_id: int

    @classmethod
    def parse(cls, key: str) -> "MoveSpec | None":
        parts = key.split(":")
        if len(parts) != 3 or not (parts[0].isdigit() and parts[2].isdigit()):
            return None
        if parts[1] and not parts[1].isdigit():
            return None
        return cls(int(parts[0]), int(parts[1]) if parts[1] else None, int(parts[2]))


@dataclass
class Proposal:
    """The moves, each team's load before and after them, and what no move could fix."""

    matching: Matching
    moves: list[Move]
    loads_after: dict[int, int]
    unplaced: list[Institution]
    still_over: list[TeamLoad]

    def rows(self) -> list[tuple[TeamLoad, int]]:
        """Each team with its load after the moves."""
        return [(t, self.loads_after[t.team.pk]) for t in self.matching.teams]


def propose(district_ids) -> Proposal:
    """A re-matching for ``district_ids`` that keeps existing pairings where possible."""
    return plan_rematching(office_matching(district_ids))


def plan_rematching(matching: Matching) -> Proposal:
    """The proposal, computed from ``matching`` alone (no query).

    First the institutions without a team, the largest first, each to the best team with
    room for its children. Then each team over capacity, the most over first: while it is
    over, the smallest of its institutions that alone brings it within capacity moves, or,
    if none does, its largest; only to a team with room, so no move makes another hot spot.
    """
    load = {t.team.pk: t.load for t in matching.teams}
    # Where each team is present: grows as institutions move to it (the input stays).
    presence = {t.team.pk: set(t.sub_district_ids) for t in matching.teams}
    moves: list[Move] = []
    unplaced: list[Institution] = []

    def move(institution: Institution, giver: TeamLoad | None, taker: TeamLoad) -> None:
        size = institution.enrolment
        before = load[giver.team.pk] if giver else None
        if giver:
            load[giver.team.pk] -= size
        moves.append(
            Move(
                institution=institution,
                from_team=institution.matched_team,
                to_team=taker.team,
                from_load_before=before,
                from_load_after=load[giver.team.pk] if giver else None,
                to_load_before=load[taker.team.pk],
                to_load_after=load[taker.team.pk] + size,
            )
        )
        load[taker.team.pk] += size
        if institution.sub_district_id:
            presence[taker.team.pk].add(institution.sub_district_id)

    for institution in sorted(matching.without_team, key=lambda i: (-i.enrolment, i.pk)):
        taker = _best_taker(matching, load, presence, institution)
        if taker is None:
            unplaced.append(institution)
        else:
            move(institution, matching.team(institution.matched_team_id), taker)

    overloaded = sorted(
        (t for t in matching.teams if t.takes_institutions and t.over),
        key=lambda t: (t.capacity - t.load, t.team.code),
    )
    for giver in overloaded:
        own = [i for i in matching.institutions if i.matched_team_id == giver.team.pk]
        while load[giver.team.pk] > giver.capacity:
            choice = _institution_to_move(matching, load, presence, giver, own)
            if choice is None:
                break
            institution, taker = choice
            own.remove(institution)
            move(institution, giver, taker)
    still_over = [t for t in matching.teams if load[t.team.pk] > t.capacity]
    return Proposal(matching, moves, load, unplaced, still_over)


def _institution_to_move(matching, load, presence, giver: TeamLoad, own: list[Institution]):
    """The fewest, then the smallest: the smallest institution that alone brings ``giver``
    within capacity, else the largest; each only if some team has room for it."""
    excess = load[giver.team.pk] - giver.capacity
    movable = []
    for institution in own:
        taker = _best_taker(matching, load, presence, institution, exclude=giver.team.pk)
        if taker is not None:
            movable.append((institution, taker))
    if not movable:
        return None
    enough = [pair for pair in movable if pair[0].enrolment >= excess]
    if enough:
        return min(enough, key=lambda pair: (pair[0].enrolment, pair[0].pk))
    return max(movable, key=lambda pair: (pair[0].enrolment, -pair[0].pk))


def _best_taker(
    matching, load, presence, institution: Institution, exclude=None
) -> TeamLoad | None:
    """The team with room for the institution's children: present in its sub-district
    first, then located in its district, then the lowest load relative to capacity after
    the move, then code."""
    size = institution.enrolment
    takers = [
        t
        for t in matching.teams
        if t.takes_institutions
        and t.team.pk not in (exclude, institution.matched_team_id)
        and institution.district_id in t.district_ids
        and load[t.team.pk] + size <= t.capacity
    ]
    if not takers:
        return None
    return min(
        takers,
        key=lambda t: (
            not (
                institution.sub_district_id and institution.sub_district_id in presence[t.team.pk]
            ),
            t.team.district_id != institution.district_id,
            (load[t.team.pk] + size) / t.capacity,
            t.team.code,
        ),
    )


# --- Applying a re-matching ---------------------------------------------------------------


def apply(*, actor: User, moves, effective_on: date, title: str) -> list[TransferPlan]:
    """Match each moved institution to its new team, and plan the move of the open cases of
    its children from the old team: one transfer plan per sending team (reason
    re-matching), each case to its institution's new team. All or nothing.

    ``moves`` are ``Move`` or ``MoveSpec``: each names the team the institution is matched
    to now, so a move proposed before someone else re-matched it is refused, not repeated.
    """
    specs = [MoveSpec(m.institution_id, m.from_team_id, m.to_team_id) for m in moves]
    if not specs:
        raise MatchingError(_("Choose at least one move to apply."))
    if not title.strip():
        raise ReasonRequired(_("Give the re-matching a title."))
    if effective_on < timezone.localdate():
        raise MatchingError(_("The effective date cannot be in the past."))
    if len({spec.institution_id for spec in specs}) != len(specs):
        raise MatchingError(_("Each institution can move only once in a re-matching."))
    with transaction.atomic():
        institutions = Institution.objects.select_for_update().in_bulk(
            [spec.institution_id for spec in specs]
        )
        districts = {i.district_id for i in institutions.values()}
        if len(institutions) != len(specs) or not may_rematch(actor, districts):
            raise NotPermitted(_("You may not re-match institutions outside your districts."))
        problems = _move_problems(specs, institutions)
        if problems:
            raise MatchingError(
                _("The re-matching was not applied: see the moves listed."), problems
            )
        now = timezone.now()
        by_taker = defaultdict(list)
        for spec in specs:
            by_taker[spec.to_team_id].append(spec.institution_id)
        for team_id, ids in sorted(by_taker.items()):
            Institution.objects.filter(pk__in=ids).update(matched_team_id=team_id, updated_at=now)
        return _plan_transfers(actor, specs, effective_on, title)


def _move_problems(specs: list[MoveSpec], institutions: dict[int, Institution]) -> list[str]:
    """Why each move cannot be made: the institution moved since, or the new team does not
    take institutions of its district."""
    takers = {
        t.team.pk: t
        for t in office_matching({i.district_id for i in institutions.values()}).teams
        if t.takes_institutions
    }
    problems = []
    for spec in specs:
        institution = institutions[spec.institution_id]
        taker = takers.get(spec.to_team_id)
        if not institution.is_active:
            problems.append(
                _("%(institution)s is no longer active.") % {"institution": institution.name}
            )
        elif institution.matched_team_id != spec.from_team_id:
            problems.append(
                _(
                    "%(institution)s was re-matched since this proposal was made; open the "
                    "page again for a new one."
                )
                % {"institution": institution.name}
            )
        elif (
            taker is None
            or spec.to_team_id == spec.from_team_id
            or institution.district_id not in taker.district_ids
        ):
            problems.append(
                _(
                    "%(institution)s: choose an active pre-primary social work team with social "
                    "workers that serves its district."
                )
                % {"institution": institution.name}
            )
    return problems


def _plan_transfers(actor, specs: list[MoveSpec], effective_on, title) -> list[TransferPlan]:
    """One plan per sending team with the open cases of its moved institutions' children
    (one query per sending team, and the plan's own)."""
    by_giver = defaultdict(dict)
    for spec in specs:
        if spec.from_team_id is not None:
            by_giver[spec.from_team_id][spec.institution_id] = spec.to_team_id
    plans = []
    for giver_id, new_team in sorted(by_giver.items()):
        rows = (
            open_cases(giver_id)
            .filter(referral__institution_id__in=new_team)
            .order_by("pk")
            .values_list("pk", "referral__institution_id")
        )
        cases = [CaseSpec(task_id=pk, to_unit_id=new_team[inst]) for pk, inst in rows]
        if not cases:
            continue
        plans.append(
            plan_create(
                actor=actor,
                kind=TransferPlan.Kind.UNIT,
                title=title,
                from_unit_id=giver_id,
                effective_on=effective_on,
                cases=cases,
                reason=TransferPlan.Reason.REMATCHING,
            )
        )
    return plans
