"""The district office's review queue and the unit's inbox: scopes, filters, sorting.

Both start from the people's memberships (read once) and end in a plain indexed query; no
page counts all its rows (a COUNT over a district's referrals is what made deep lists slow):
a page asks for one row more than it shows to know whether there is a next page, and the
queue's result count stops at ``COUNT_CAP`` ("more than 1,000", ``capped_count``); "my
referrals" pages and counts the same way (``page_of``, ``capped_count``). The
inbox's tabs are counted in one aggregate over the unit's own tasks (``inbox_tab_counts``).

Overdue is one rule, ``referrals.selectors.overdue_q(now)`` (assigned and past the
acknowledge-by time when the page is drawn), and it has one home for each list: the queue's
Overdue view and its rows' badge (``row_flags``) ask it of the referral, the inbox's Overdue
tab, its count and its rows' badge (``inbox_row_flags``) ask it of the unit's own task, and
the dashboard (``referrals.dashboard``) counts it as the queue does. The mark the sweep sets
(``overdue_at``) only records that the office was told; no page reads it.
"""

from dataclasses import dataclass
from datetime import datetime

import django_filters
from django import forms
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from accounts.selectors import user_scope
from districts.models import District, SubDistrict
from referrals.models import (
    OPEN_STATUSES,
    OPEN_TASK_STATUSES,
    Referral,
    ReferralEvent,
    ReferralTask,
    RiskLevel,
    Status,
)
from referrals.selectors import (
    NOT_ROUTABLE_TYPES,
    overdue_q,
    routing_past_due_q,
    units_taking_referrals,
)
from services.models import NeedCategory, ServiceUnit, UnitType
from welfare_portal.widgets import FastSelect

PAGE_SIZE = 25
# The queue's result count stops here: past it the page says "more than 1,000".
COUNT_CAP = 1000
# What an empty choice of a filter says (django-filter's default is "---------").
ANY = _("Any")

CLOSED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.ENTERED_IN_ERROR)


def _needs_action(now: datetime) -> Q:
    """What a district officer should look at now: waiting for triage, overdue, not routed
    long after submission (its routing job was lost), escalated and still open, or urgent
    and still open."""
    return (
        Q(status=Status.TRIAGE)
        | overdue_q(now)
        | routing_past_due_q(now)
        | Q(status__in=OPEN_STATUSES)
        & (Q(escalated_at__isnull=False) | Q(risk_level=RiskLevel.URGENT))
    )


# Each view's filter is a function of the moment the page is drawn: "overdue" is read from
# the due time (``selectors.overdue_q``), never from the sweep's mark.
QUEUE_VIEWS = {
    "action": (_("Needs action now"), _needs_action),
    "triage": (_("Awaiting triage"), lambda now: Q(status=Status.TRIAGE)),
    "waiting": (_("Assigned, not yet accepted"), lambda now: Q(status=Status.ASSIGNED)),
    "overdue": (_("Overdue"), overdue_q),
    "escalated": (
        _("Escalated"),
        lambda now: Q(status__in=OPEN_STATUSES, escalated_at__isnull=False),
    ),
    "open": (_("Open"), lambda now: Q(status__in=OPEN_STATUSES)),
    "closed": (_("Closed"), lambda now: Q(status__in=CLOSED)),
    "all": (_("All"), lambda now: Q()),
}

SORTS = {
    "urgency": (_("Most urgent first"), [F("urgency").desc(), F("due_at").asc(nulls_last=True)]),
    "oldest": (_("Oldest first"), [F("submitted_at").asc()]),
    "newest": (_("Newest first"), [F("submitted_at").desc()]),
    "updated": (_("Last updated"), [F("updated_at").desc()]),
}


@dataclass(frozen=True)
class OfficeScope:
    """The districts a user reviews: their offices' districts, every district for
    headquarters, none for anyone else."""

    district_ids: tuple[int, ...]
    everywhere: bool = False

    @property
    def empty(self) -> bool:
        return not self.everywhere and not self.district_ids

    def referrals(self) -> QuerySet[Referral]:
        visible = Referral.objects.exclude(status=Status.DRAFT)
        if self.everywhere:
            return visible
        return visible.filter(district_id__in=self.district_ids)

    def districts(self) -> QuerySet[District]:
        districts = District.objects.order_by("code")
        return districts if self.everywhere else districts.filter(pk__in=self.district_ids)


def office_scope(user: User) -> OfficeScope:
    """The user's districts (``accounts.selectors.user_scope``); headquarters without a
    query: it reviews every district whatever its memberships."""
    if user.is_administrator:
        return OfficeScope(district_ids=(), everywhere=True)
    return OfficeScope(district_ids=user_scope(user).district_ids)


def inbox_units(user: User) -> list[int]:
    """The units whose referrals this user works (staff and supervisors)."""
    return list(user_scope(user).unit_ids)


class QueueFilter(django_filters.FilterSet):
    """The queue's filters. Every select is a ``FastSelect``: an office's units and caring
    teams make a few hundred options."""

    view = django_filters.ChoiceFilter(
        widget=FastSelect,
        label=_("Show"),
        choices=[(key, label) for key, (label, _q) in QUEUE_VIEWS.items()],
        method="filter_view",
        empty_label=None,
    )
    risk_level = django_filters.ChoiceFilter(
        widget=FastSelect, label=_("Risk level"), choices=RiskLevel.choices, empty_label=ANY
    )
    district = django_filters.ModelChoiceFilter(
        widget=FastSelect, label=_("District"), queryset=District.objects, empty_label=ANY
    )
    sub_district = django_filters.ModelChoiceFilter(
        widget=FastSelect, label=_("Sub-district"), queryset=SubDistrict.objects, empty_label=ANY
    )
    need = django_filters.ModelChoiceFilter(
        widget=FastSelect,
        label=_("Need"),
        field_name="needs",
        queryset=NeedCategory.objects,
        empty_label=ANY,
    )
    unit_type = django_filters.ModelChoiceFilter(
        widget=FastSelect,
        label=_("Unit type"),
        field_name="assigned_unit__unit_type",
        queryset=UnitType.objects,
        empty_label=ANY,
    )
    unit = django_filters.ModelChoiceFilter(
        widget=FastSelect,
        label=_("Unit"),
        field_name="assigned_unit",
        queryset=ServiceUnit.objects,
        empty_label=ANY,
    )
    team = django_filters.ModelChoiceFilter(
        widget=FastSelect,
        label=_("Referring team"),
        field_name="referring_team",
        queryset=ServiceUnit.objects,
        empty_label=ANY,
    )
    submitted_from = django_filters.DateFilter(
        label=_("Submitted from"),
        field_name="submitted_at",
        lookup_expr="date__gte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    submitted_to = django_filters.DateFilter(
        label=_("Submitted until"),
        field_name="submitted_at",
        lookup_expr="date__lte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    q = django_filters.CharFilter(label=_("Reference or name"), method="search")
    sort = django_filters.ChoiceFilter(
        widget=FastSelect,
        label=_("Sort"),
        choices=[(key, label) for key, (label, _o) in SORTS.items()],
        method="sort_by",
        empty_label=None,
    )

    class Meta:
        model = Referral
        fields: list[str] = []

    def __init__(self, data=None, *args, scope: OfficeScope, now: datetime | None = None, **kwargs):
        self.now = now or timezone.now()
        data = data.copy() if data is not None else {}
        data.setdefault("view", "action")
        data.setdefault("sort", "urgency")
        super().__init__(data, *args, **kwargs)
        districts = scope.districts()
        in_scope = Q() if scope.everywhere else Q(district_id__in=scope.district_ids)
        self.filters["district"].queryset = districts
        self.filters["sub_district"].queryset = SubDistrict.objects.filter(in_scope).order_by(
            "code"
        )
        self.filters["unit"].queryset = (
            ServiceUnit.objects.filter(in_scope)
            .exclude(unit_type__code__in=NOT_ROUTABLE_TYPES)
            .only("pk", "code", "name_en", "name_zh")
            .order_by_name()
        )
        self.filters["team"].queryset = (
            ServiceUnit.objects.filter(in_scope, unit_type__code="CARE_TEAM")
            .only("pk", "code", "name_en", "name_zh")
            .order_by("code")
        )
        if scope.everywhere:
            # 452 teams and 900 units make a list no one scrolls; pick a district first.
            # The raw query value, not the cleaned one (the form is not validated yet):
            # anything but a small number (``?district=abc``, 10**30) narrows to nothing, not a 500.
            district = str(self.data.get("district") or "")
            district = int(district) if district.isdigit() and len(district) < 10 else 0
            self.filters["team"].queryset = self.filters["team"].queryset.filter(
                district_id=district or 0
            )
            self.filters["unit"].queryset = self.filters["unit"].queryset.filter(
                district_id=district or 0
            )

    # Always shown above the table; the others fold away in "More filters".
    MAIN_FILTERS = ("view", "sort")

    def folded_fields(self) -> list:
        """The form's fields shown in the collapsible part (not the search text: it has its
        own box that POSTs)."""
        return [f for f in self.form if f.name not in (*self.MAIN_FILTERS, "q")]

    def folded_set(self) -> int:
        """How many of the folded filters the query sets (the summary says so, and the part
        opens when any is set)."""
        return sum(1 for f in self.folded_fields() if str(self.data.get(f.name) or "").strip())

    def filter_view(self, queryset, name, value):
        return queryset.filter(QUEUE_VIEWS[value][1](self.now))

    def sort_by(self, queryset, name, value):
        return queryset.order_by(*SORTS[value][1], "pk")

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(reference__istartswith=value)
            | Q(subject_name_zh__icontains=value)
            | Q(subject_name_en__icontains=value)
        )


def capped_count(queryset: QuerySet, cap: int | None = None) -> tuple[int, bool]:
    """How many rows ``queryset`` has, counted no further than ``cap`` (``COUNT_CAP``):
    ``(cap, True)`` when there are more. One query that stops after ``cap + 1`` index
    entries however many rows a district holds (a subquery with a LIMIT, counted)."""
    cap = COUNT_CAP if cap is None else cap
    found = queryset.order_by().values("pk")[: cap + 1].count()
    return min(found, cap), found > cap


def capped_union_count(sources: list[QuerySet], cap: int | None = None) -> tuple[int, bool]:
    """``capped_count`` of the union of ``sources`` (``selectors.visible_sources``), each
    read no further than ``cap + 1`` rows: if the union has more than ``cap``, one part at
    least does, and its first ``cap + 1`` are in the count. Only where a compound query's
    parts can be limited (PostgreSQL); elsewhere count the whole (``capped_count``)."""
    cap = COUNT_CAP if cap is None else cap
    firsts = [source.order_by().values("pk")[: cap + 1] for source in sources]
    found = firsts[0].union(*firsts[1:]).count()
    return min(found, cap), found > cap


def units_for_reassignment(scope: OfficeScope, district=None) -> QuerySet[ServiceUnit]:
    """Units a batch can be reassigned to: units taking referrals, serving the chosen
    district, else located in the office's districts (headquarters: pick a district). Whether
    each referral may go there is ``referral_assign``'s to say (``units_assignable_to``)."""
    units = units_taking_referrals().only("pk", "code", "name_en", "name_zh")
    if district is not None:
        return units.serving_district(district).order_by_name()
    if scope.everywhere:
        return units.none()
    return units.filter(district_id__in=scope.district_ids).order_by_name()


def unit_for_reassignment(scope: OfficeScope, unit_id: int) -> ServiceUnit | None:
    """The unit, if it takes referrals and is located in or serves one of the office's
    districts: the batch's first check. Each referral is then held by ``referral_assign`` to
    the one rule (``selectors.units_assignable_to``: the unit serves *its* district), and
    the referrals it refuses are reported and left as they were."""
    units = units_taking_referrals()
    if not scope.everywhere:
        ids = scope.district_ids
        units = units.filter(
            Q(district_id__in=ids)
            | Q(catchment_districts__in=ids)
            | Q(catchment_sub_districts__district_id__in=ids)
        )
    return units.filter(pk=unit_id).first()


INBOX_TABS = {
    "new": (_("New"), lambda now: Q(status=Status.ASSIGNED)),
    "open": (_("Open"), lambda now: Q(status__in=[Status.ACCEPTED, Status.IN_PROGRESS])),
    "on_hold": (_("On hold"), lambda now: Q(status=Status.ON_HOLD)),
    "overdue": (_("Overdue"), overdue_q),
    "closed": (_("Closed"), lambda now: Q(status__in=[*CLOSED, Status.REJECTED])),
}
INBOX_ORDER = {
    "new": [F("urgency").desc(), F("task_due_at").asc(nulls_last=True)],
    "open": [F("urgency").desc(), F("updated_at").desc()],
    "on_hold": [F("updated_at").desc()],
    "overdue": [F("task_due_at").asc()],
    "closed": [F("updated_at").desc()],
}


def _unit_tasks(unit_ids: list[int]) -> QuerySet[ReferralTask]:
    return ReferralTask.objects.filter(referral=OuterRef("pk"), unit_id__in=unit_ids)


def inbox(*, unit_ids: list[int], tab: str, now: datetime | None = None) -> QuerySet[Referral]:
    """A unit's referrals for one tab, by the unit's own task on each (issue 16): its
    status, deadline and overdue flag (``task_status``, ``task_due_at``, ``is_overdue``),
    whatever the other units on the referral do. Closed includes the tasks it declined or
    the office moved on (the unit keeps seeing its own part)."""
    now = now or timezone.now()
    rows = Referral.objects.filter(Exists(_unit_tasks(unit_ids).filter(INBOX_TABS[tab][1](now))))
    if tab in ("new", "overdue"):  # ordered by the unit's own deadline
        rows = rows.annotate(task_due_at=inbox_row_flags(unit_ids, now)["task_due_at"])
    return rows.order_by(*INBOX_ORDER[tab], "pk")


def inbox_tab_counts(unit_ids: list[int], now: datetime) -> dict[str, int]:
    """How many referrals each inbox tab lists (by the tabs' own conditions on the unit's
    tasks, ``INBOX_TABS``): one aggregate query for every tab."""
    return ReferralTask.objects.filter(unit_id__in=unit_ids).aggregate(
        **{
            tab: Count("referral_id", filter=condition(now), distinct=True)
            for tab, (_label, condition) in INBOX_TABS.items()
        }
    )


def inbox_row_flags(unit_ids: list[int], now: datetime) -> dict:
    """Annotations for the inbox page's rows: the unit's own task's status and deadline, and
    whether it is overdue (``overdue_q``, the views' own rule)."""
    own = _unit_tasks(unit_ids).order_by(
        Case(When(status__in=OPEN_TASK_STATUSES, then=0), default=1), "-created_at", "-pk"
    )
    return {
        "task_status": Subquery(own.values("status")[:1]),
        "task_due_at": Subquery(own.values("due_at")[:1]),
        "is_overdue": Exists(_unit_tasks(unit_ids).filter(overdue_q(now))),
    }


def declined_by(unit_ids: list[int]) -> dict:
    """Annotations for the Closed tab: when and why one of ``unit_ids`` last declined the
    row (issue 14 item 16), so a referral that went on to another unit is shown as the
    unit's own decision, not with the next unit's status and deadline. Subqueries on the
    page's one row query: no query more."""
    declines = ReferralEvent.objects.filter(
        referral=OuterRef("pk"), to_status=Status.REJECTED, unit_id__in=unit_ids
    ).order_by("-at", "-pk")
    return {
        "declined_at": Subquery(declines.values("at")[:1]),
        "declined_reason": Subquery(declines.values("reason")[:1]),
    }


@dataclass
class LookaheadPage:
    """A page that knows whether another follows without counting every row."""

    rows: list
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1


def page_of(
    queryset: QuerySet,
    raw_number,
    *,
    relations: tuple[str, ...] = (),
    annotations: dict | None = None,
    size: int = PAGE_SIZE,
) -> LookaheadPage:
    """One page of ``queryset`` in two steps: the ids, in order (on the queue's covering
    indexes PostgreSQL reads the index alone, even deep in the list), then those rows with
    their ``relations`` and ``annotations`` (computed for the page's rows only)."""
    try:
        number = min(max(int(raw_number or 1), 1), 10_000)
    except (TypeError, ValueError):
        number = 1
    start = (number - 1) * size
    ids = list(queryset.values_list("pk", flat=True)[start : start + size + 1])
    shown = ids[:size]
    rows = queryset.model.objects.filter(pk__in=shown).select_related(*relations)
    rows = rows.annotate(**annotations) if annotations else rows
    by_id = {row.pk: row for row in rows} if shown else {}
    return LookaheadPage(
        rows=[by_id[pk] for pk in shown if pk in by_id], number=number, has_next=len(ids) > size
    )


def row_labels() -> dict:
    """What a long list's rows say in the active language, translated once for the page (a
    row's ``get_status_display`` would translate its own, 25 times a page): the status and
    risk level names, and the select box's label, "Select <reference>"."""
    return {
        "status": {value: str(label) for value, label in Status.choices},
        "risk": {value: str(label) for value, label in RiskLevel.choices},
        "select": gettext("Select %(reference)s"),
    }


def labelled(referral: Referral, labels: dict, status: str | None = None) -> dict:
    """A row's names from ``row_labels``: its status (or ``status``, the unit's own task's),
    its risk level and its select box's label."""
    return {
        "status_label": labels["status"].get(status or referral.status, ""),
        "risk_label": labels["risk"].get(referral.risk_level, ""),
        "select_label": labels["select"] % {"reference": referral.reference},
    }


def row_flags(now: datetime) -> dict:
    """Annotations for a page's rows, computed by the database with the same filters as the
    views (issue 14 items 15 and 19), so a row's badge and the view it is listed under always
    agree: ``is_overdue`` (``overdue_q``) and ``is_unrouted`` (``routing_past_due_q``)."""
    return {
        "is_overdue": ExpressionWrapper(overdue_q(now), output_field=BooleanField()),
        "is_unrouted": ExpressionWrapper(routing_past_due_q(now), output_field=BooleanField()),
    }


def minutes_waiting(referral: Referral, now: datetime) -> int:
    """Whole minutes since the referral was submitted."""
    return max(int((now - referral.submitted_at).total_seconds() // 60), 0)
