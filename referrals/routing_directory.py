"""The directory as routing reads it, read once and kept until it changes (issue 20).

Every routing decision needs the same facts of the directory: the active rules (their needs
and unit types), the units of those types with their catchments and the needs their type
serves, and the office closures that pause business-time clocks. They change a few times a
year (headquarters' admin, a CSV import), while a burst of referrals asks for them hundreds
of times a minute. So ``routing_directory()`` reads them in one pass (seven queries) and
keeps the result in the process, stamped with a version held in the Django cache (Redis in
production, so every web and worker process shares it):

- a save or delete of a unit, a unit type, a need, a routing rule or a closure, and a change
  to a catchment, a type's needs or a rule's needs or types (``m2m_changed``), sets a new
  version once its transaction commits; every process reads the directory again at its
  next decision;
- inside a transaction that changed the directory and has not committed yet, the
  directory is read afresh (and not kept): that transaction sees its own change, no other
  process sees it before the commit, and a rollback leaves nothing behind;
- with the cache unreachable (``welfare_portal/cache.py``: a miss) nothing is kept: every
  decision reads the directory, as before;
- a change made past the models (SQL, a queryset ``update()``) is read within
  ``ROUTING_DIRECTORY_MAX_AGE`` seconds at the latest (the kept copy's age limit).

What changes with every referral is not kept here: the units' loads (``current_load``),
the institution a referral names, the household's units and the units that declined; the
caller reads those per referral (``routing_inputs``).
"""

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

from referrals import routing
from referrals.models import OfficeClosure, RoutingRule
from services.models import NeedCategory, ServiceUnit, UnitType

VERSION_KEY = "routing:directory:version"
DEFAULT_MAX_AGE = 300


@dataclass(frozen=True)
class Directory:
    """The rules (priority order) and the units of their unit types (code order), and for a
    kept copy (``version`` set) the closures not over when it was read. A copy read for one
    decision only (no ``version``) has the units' loads as read with it, and no closures."""

    rules: tuple[routing.RuleFacts, ...]
    units: tuple[routing.UnitFacts, ...]
    closures: tuple[tuple[datetime, datetime], ...] | None = None
    version: str | None = None
    read_at: float = 0.0
    _by_district: dict = field(default_factory=dict, compare=False, repr=False)

    def units_serving(self, district_id: int, *, team_id: int | None = None) -> list:
        """The units located in the district or whose catchment reaches into it
        (``ServiceUnitQuerySet.serving_district``), with the team ``team_id`` wherever it
        serves (an institution's matched team), in code order."""
        serving = self._by_district.get(district_id)
        if serving is None:
            serving = tuple(unit for unit in self.units if unit.serves_district(district_id))
            self._by_district[district_id] = serving
        if team_id is None or any(unit.id == team_id for unit in serving):
            return list(serving)
        team = [unit for unit in self.units if unit.id == team_id]
        return sorted([*serving, *team], key=lambda unit: unit.code)

    def closures_from(self, start: datetime) -> list[tuple[datetime, datetime]]:
        """``selectors.office_closures_from`` from the kept closures."""
        return [(starts, ends) for starts, ends in self.closures or () if ends > start]


def read_directory(*, version: str | None = None) -> Directory:
    """The directory from the database in seven queries; with ``version`` (to be kept), the
    closures too (an eighth)."""
    from referrals.selectors import office_closures_from

    started = time.monotonic()
    rules = tuple(
        routing.RuleFacts(
            id=rule.pk,
            code=rule.code,
            name_en=rule.name_en,
            name_zh=rule.name_zh,
            priority=rule.priority,
            unit_types=tuple(unit_type.code for unit_type in rule.unit_types.all()),
            needs=frozenset(need.code for need in rule.needs.all()),
            risk_levels=frozenset(rule.risk_levels),
            risk_factors=frozenset(rule.risk_factors),
            households=frozenset(rule.households),
            district_id=rule.district_id,
            sla_amount=rule.sla_amount,
            sla_unit=rule.sla_unit,
            escalate_at_once=rule.escalate_at_once,
            when_overdue=rule.when_overdue,
            match_institution=rule.match_institution,
        )
        for rule in RoutingRule.objects.filter(is_active=True).prefetch_related(
            "needs", "unit_types"
        )
    )
    unit_types = {code for rule in rules for code in rule.unit_types}
    units = tuple(
        _unit_facts(unit)
        for unit in ServiceUnit.objects.filter(unit_type__code__in=unit_types)
        .select_related("unit_type")
        .prefetch_related("catchment_districts", "catchment_sub_districts", "unit_type__needs")
        .order_by("code")
    )
    closures = tuple(office_closures_from(timezone.now())) if version else None
    return Directory(rules, units, closures, version=version, read_at=started)


def _unit_facts(unit: ServiceUnit) -> routing.UnitFacts:
    sub_districts = unit.catchment_sub_districts.all()
    return routing.UnitFacts(
        id=unit.pk,
        code=unit.code,
        name_en=unit.name_en,
        name_zh=unit.name_zh,
        unit_type=unit.unit_type.code,
        district_id=unit.district_id,
        catchment_district_ids=frozenset(d.pk for d in unit.catchment_districts.all()),
        catchment_sub_district_ids=frozenset(s.pk for s in sub_districts),
        catchment_sub_district_district_ids=frozenset(s.district_id for s in sub_districts),
        is_active=unit.is_active,
        capacity=unit.capacity,
        current_load=unit.current_load,
        needs_served=frozenset(need.code for need in unit.unit_type.needs.all()),
    )


# The process's copy: one directory, the version it was read under.
_kept: dict[str, Directory] = {}


def routing_directory() -> Directory:
    """The directory as it is now: the kept copy, else one read for this decision only."""
    return kept_directory() or read_directory()


def kept_directory() -> Directory | None:
    """The kept copy while its version stands (and it is younger than
    ``ROUTING_DIRECTORY_MAX_AGE``), else read again and kept; ``None`` when it may not be
    kept: this transaction changed the directory, or the cache cannot be reached."""
    if _changed_here():
        return None
    version = current_version()
    if version is None:
        return None
    kept = _kept.get("directory")
    max_age = getattr(settings, "ROUTING_DIRECTORY_MAX_AGE", DEFAULT_MAX_AGE)
    if kept is not None and kept.version == version and time.monotonic() - kept.read_at < max_age:
        return kept
    _kept["directory"] = directory = read_directory(version=version)
    return directory


def closures_from(start: datetime) -> list[tuple[datetime, datetime]]:
    """``selectors.office_closures_from(start)``, from the kept copy when there is one."""
    from referrals.selectors import office_closures_from

    kept = kept_directory()
    return kept.closures_from(start) if kept else office_closures_from(start)


def current_version() -> str | None:
    """The directory's version in the shared cache; a new one when the cache has none (it
    was flushed); ``None`` when the cache cannot be reached."""
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY)
    return version


def directory_changed() -> None:
    """A new version: every process reads the directory again at its next decision."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    _kept.clear()


class _OnCommit:
    """The new version, set once the transaction that changed the directory commits."""

    def __init__(self) -> None:
        self.done = False

    def __call__(self) -> None:
        self.done = True
        directory_changed()


def _pending() -> list[_OnCommit]:
    # Django keeps a transaction's on-commit callbacks as (savepoint ids, callback, robust),
    # and drops them when their savepoint or transaction rolls back.
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return []
    return [
        entry[1]
        for entry in connection.run_on_commit
        if isinstance(entry[1], _OnCommit) and not entry[1].done
    ]


def _changed_here() -> bool:
    """Whether the current transaction changed the directory and has not committed."""
    return bool(_pending())


def _on_change(sender, **kwargs) -> None:
    if kwargs.get("action", "post_").startswith("pre_"):
        return  # m2m_changed: acted on at post_add, post_remove, post_clear
    update_fields = kwargs.get("update_fields")
    if sender is ServiceUnit and update_fields and set(update_fields) <= LOAD_FIELDS:
        return  # a load moved: read per decision, not kept here
    if not _pending():
        transaction.on_commit(_OnCommit())


LOAD_FIELDS = {"current_load", "updated_at"}
WATCHED = (ServiceUnit, UnitType, NeedCategory, RoutingRule, OfficeClosure)
WATCHED_M2M = (
    ServiceUnit.catchment_districts.through,
    ServiceUnit.catchment_sub_districts.through,
    UnitType.needs.through,
    RoutingRule.needs.through,
    RoutingRule.unit_types.through,
)
for _model in WATCHED:
    post_save.connect(_on_change, sender=_model, dispatch_uid=f"routing-directory-{_model}")
    post_delete.connect(_on_change, sender=_model, dispatch_uid=f"routing-directory-d-{_model}")
for _through in WATCHED_M2M:
    m2m_changed.connect(_on_change, sender=_through, dispatch_uid=f"routing-directory-{_through}")
