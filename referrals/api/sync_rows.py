"""A sync page's rows (``views.ReferralList``): the referrals of the page and their tasks
read with only what a summary shows, each unit built once a page. The same objects, with
the same attributes loaded, as ``views.with_api_relations`` gives, for 500 rows at a time."""

import copy

from django.db.models import F, QuerySet

from referrals.models import Referral, ReferralTask
from services.models import Organisation, ServiceUnit

# What a sync page reads of a referral and of its tasks: the summary's fields and what
# ``task_reader`` asks (the lead unit's and the tasks' organisations, the referrer). The
# units come as columns of the row (``UNIT_OF_TASK``, ``LEAD_UNIT``), each unit built once
# a page and shared by its rows (``shared_unit``): a join's model per row was a third of
# the page's Python time.
SUMMARY_COLUMNS = (
    "reference",
    "status",
    "version",
    "risk_level",
    "submitted_at",
    "due_at",
    "updated_at",
    "referrer",
    "district",
    "sub_district",
    "assigned_unit",
)
LEAD_UNIT = {
    "lead_unit_code": F("assigned_unit__code"),
    "lead_unit_organisation_id": F("assigned_unit__organisation_id"),
}
TASK_COLUMNS = (
    "public_id",
    "referral_id",
    "unit",
    "is_lead",
    "part_of_id",
    "status",
    "due_at",
    "outcome_summary",
    "created_at",
    "updated_at",
)
UNIT_OF_TASK = {
    "unit_code": F("unit__code"),
    "unit_organisation_id": F("unit__organisation_id"),
    "unit_organisation_code": F("unit__organisation__code"),
}


def with_sync_relations(rows: QuerySet[Referral]) -> QuerySet[Referral]:
    """``with_api_relations`` for a sync page, without its tasks (``attach_tasks``) and its
    lead unit (``attach_lead_units``): only the columns a summary shows (a page is 500
    referrals: their full rows and their units' cost more to read and to build than the
    page's query); the places' codes come with the row (``serializers.code_of``)."""
    places = {"district_code": F("district__code"), "sub_district_code": F("sub_district__code")}
    return rows.only(*SUMMARY_COLUMNS).annotate(**places, **LEAD_UNIT)


def shared_unit(units: dict, unit_id, code: str, organisation_id: int, organisation_code=None):
    """The page's one ``ServiceUnit`` of that id (its code and organisation loaded, the rest
    deferred as ``only()`` leaves it), built the first time a row names it."""
    if unit_id is None:
        return None
    unit = units.get(unit_id)
    if unit is None:
        unit = ServiceUnit.from_db(
            None, ["id", "code", "organisation_id"], [unit_id, code, organisation_id]
        )
        if organisation_code is not None:
            loaded = [organisation_id, organisation_code]
            organisation = Organisation.from_db(None, ["id", "code"], loaded)
            ServiceUnit.organisation.field.set_cached_value(unit, organisation)
        units[unit_id] = unit
    return unit


def attach_lead_units(referrals: list[Referral]) -> None:
    """Each referral's lead unit (code and organisation) as ``select_related`` leaves it."""
    units: dict = {}
    for referral in referrals:
        unit = shared_unit(
            units,
            referral.assigned_unit_id,
            referral.lead_unit_code,
            referral.lead_unit_organisation_id,
        )
        Referral.assigned_unit.field.set_cached_value(referral, unit)


def attach_tasks(referrals: list[Referral]) -> None:
    """The page's tasks (with units, organisations and need codes) in one query, attached
    as ``prefetch_related("tasks")`` attaches them: ``referral.tasks.all()`` is the loaded
    list (a task does not point back at its referral: the pair would be a reference cycle
    per row, left for the garbage collector; the summary passes the referral along,
    ``serializers.task_row``). Django's prefetch builds a filtered queryset per
    referral, which on a page of 500 cost several times the query itself (profiled)."""
    by_referral: dict[int, list[ReferralTask]] = {referral.pk: [] for referral in referrals}
    tasks = ReferralTask.objects.only(*TASK_COLUMNS).annotate(**UNIT_OF_TASK)
    tasks = tasks.with_need_codes().filter(referral_id__in=list(by_referral))
    units: dict = {}
    for task in tasks.order_by("created_at", "pk"):
        unit = shared_unit(
            units,
            task.unit_id,
            task.unit_code,
            task.unit_organisation_id,
            organisation_code=task.unit_organisation_code,
        )
        ReferralTask.unit.field.set_cached_value(task, unit)
        by_referral[task.referral_id].append(task)
    cache_name, empty = Referral.tasks.rel.cache_name, ReferralTask.objects.none()
    for referral in referrals:
        loaded = copy.copy(empty)  # its own result cache; a filter on it clones the query
        loaded._result_cache = by_referral[referral.pk]
        loaded._prefetch_done = True
        referral.__dict__.setdefault("_prefetched_objects_cache", {})[cache_name] = loaded
