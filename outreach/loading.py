"""Loading households into a visit list, from a CSV or XLSX file or from the partner API.

One rule, one home: the import page and ``POST /api/v1/outreach/lists/{id}/households/``
both hand their rows (dicts keyed by the file's column names) to ``load_households``.

* Every row is checked before anything is written; a file with one bad row is refused
  whole (``LoadRefused``, its ``report`` naming every bad row by line and column, in the
  caller's language) and nothing of it is stored: the people on a list asked for nothing,
  and a half-loaded file would have to be found and removed by hand.
* A row whose ``source_row_id`` is already in the list is counted ``unchanged`` and left
  alone, so the same file (or API call) sent again adds nothing.
* Identity numbers are kept exactly as a referral keeps them (``referrals.identity``:
  encrypted, keyed hash, mask); an error about one never quotes it.
* The writes are bulk: households, then their people with the households' ids, then one
  LOADED event per household, so 50,000 households load in seconds.
"""

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from phonenumber_field.phonenumber import PhoneNumber

from districts.models import SubDistrict
from outreach.assignment import team_for
from outreach.errors import OutreachError
from outreach.models import (
    AgeBand,
    Estate,
    Household,
    HouseholdEvent,
    ListingReason,
    Person,
    PersonRole,
    VisitList,
    priority_of,
)
from referrals.identity import IdType
from referrals.submission import protected_identity
from welfare_portal.phone import INVALID_PHONE

MAX_PEOPLE = 4
MAX_HIGH_LOAD_INDICATORS = 20
BATCH_SIZE = 2000
PERSON_FIELDS = ("name_zh", "name_en", "age_band", "role", "phone", "id_type", "id_number")
ADDRESS_COLUMNS = ("estate", "block", "floor", "flat", "sub_district")
COLUMNS = [
    "source_row_id",
    *ADDRESS_COLUMNS,
    "reasons",
    "high_load_indicators",
    *(f"person{k}_{name}" for k in range(1, MAX_PEOPLE + 1) for name in PERSON_FIELDS),
]
REQUIRED_COLUMNS = ("source_row_id", "estate")
# Reasons in one cell: semicolons (ASCII or full-width), or the Chinese list comma.
REASON_SEPARATORS = re.compile(r"[;；、]")
LENGTHS = {"source_row_id": 64, "estate": 120, "block": 40, "floor": 10, "flat": 10}
NAME_LENGTH = 100
FILE = "file"  # the ``field`` of an error about the whole file
LINE_KEY = "line"  # a row may say its own line (or the API its index)


@dataclass
class RowError:
    line: int
    field: str
    message: str


@dataclass
class LoadReport:
    created: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


class LoadRefused(OutreachError):
    """Some rows are bad: none was stored. ``report.errors`` names every one."""

    def __init__(self, report: LoadReport):
        count = len({error.line for error in report.errors})
        super().__init__(
            ngettext(
                "%(count)d row has problems, so nothing was loaded. Correct it and load "
                "the file again.",
                "%(count)d rows have problems, so nothing was loaded. Correct them and load "
                "the file again.",
                count,
            )
            % {"count": count}
        )
        self.report = report


def _refuse_file(message: str) -> LoadRefused:
    return LoadRefused(LoadReport(errors=[RowError(line=1, field=FILE, message=message)]))


# --- Reading a file ----------------------------------------------------------------------


def _cell(value) -> str:
    """A cell as text: a spreadsheet's 12.0 is "12", an empty cell is ""."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _is_xlsx(uploaded_file, head: bytes) -> bool:
    name = (getattr(uploaded_file, "name", "") or "").lower()
    return name.endswith(".xlsx") or head.startswith(b"PK\x03\x04")


def _table_of_csv(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse_file(_("The file is not UTF-8 text. Save it as “CSV UTF-8”.")) from None
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise _refuse_file(_("The file could not be read as CSV.")) from None


def _table_of_xlsx(data: bytes) -> list[list[str]]:
    import tablib

    try:
        dataset = tablib.Dataset().load(data, format="xlsx")
    except (ImportError, tablib.UnsupportedFormat):  # tablib's XLSX format needs openpyxl
        raise _refuse_file(_("XLSX files cannot be read here. Save the file as CSV.")) from None
    except Exception:  # noqa: BLE001 - any damage to the workbook is the same answer
        raise _refuse_file(_("The file could not be read as an XLSX workbook.")) from None
    return [list(dataset.headers or []), *(list(row) for row in dataset)]


def rows_from_file(uploaded_file) -> list[dict]:
    """The rows of a CSV (UTF-8, with or without BOM) or XLSX file (first sheet), as dicts
    keyed by the header's column names (lower case), each with the file's ``line`` (the
    header is line 1). Blank rows are skipped. Refuses a file it cannot read, or without
    the required columns, with ``LoadRefused``."""
    data = uploaded_file.read()
    table = _table_of_xlsx(data) if _is_xlsx(uploaded_file, data[:4]) else _table_of_csv(data)
    if not table:
        raise _refuse_file(_("The file is empty."))
    header = [_cell(name).lower() for name in table[0]]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise _refuse_file(
            _("The file has no column %(columns)s. The first row must name the columns.")
            % {"columns": ", ".join(f"“{name}”" for name in missing)}
        )
    rows = []
    for number, values in enumerate(table[1:], start=2):
        cells = [_cell(value) for value in values]
        if not any(cells):
            continue
        row = {name: cell for name, cell in zip(header, cells, strict=False) if name}
        row[LINE_KEY] = number
        rows.append(row)
    return rows


def template_csv() -> str:
    """The header row of a file to fill in (the import page offers it)."""
    return ",".join(COLUMNS) + "\r\n"


# --- Checking rows -----------------------------------------------------------------------


def _labels(choices) -> dict[str, str]:
    """Each code, and its label in every language, (case-folded) to the code."""
    found = {}
    for code, label in choices:
        found[str(code).casefold()] = code
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                found[str(label).casefold()] = code
    return found


@dataclass
class _Context:
    """What every row is checked against, read once per load."""

    visit_list: VisitList
    sub_districts: dict[str, SubDistrict]  # the list's districts', by code (case-folded)
    other_codes: set[str]  # sub-district codes of other offices' districts
    estates: dict[str, Estate]  # by either name, case-folded
    reasons: dict[str, str] = field(default_factory=lambda: _labels(ListingReason.choices))
    age_bands: dict[str, str] = field(default_factory=lambda: _labels(AgeBand.choices))
    roles: dict[str, str] = field(default_factory=lambda: _labels(PersonRole.choices))
    id_types: dict[str, str] = field(default_factory=lambda: _labels(IdType.choices))

    @classmethod
    def of(cls, visit_list: VisitList) -> "_Context":
        areas = SubDistrict.objects.filter(
            district__welfare_office_id=visit_list.welfare_office_id
        ).select_related("district")
        estates = {}
        for estate in Estate.objects.select_related("sub_district"):
            for name in (estate.name_zh, estate.name_en):
                if name:
                    estates[name.casefold()] = estate
        return cls(
            visit_list=visit_list,
            sub_districts={area.code.casefold(): area for area in areas},
            other_codes={
                code.casefold()
                for code in SubDistrict.objects.exclude(
                    district__welfare_office_id=visit_list.welfare_office_id
                ).values_list("code", flat=True)
            },
            estates=estates,
        )


@dataclass
class _Row:
    """A checked row, ready to be written."""

    household: Household
    people: list[Person]


class _Problems:
    """The errors of one row."""

    def __init__(self, line: int):
        self.line = line
        self.errors: list[RowError] = []

    def add(self, column: str, message) -> None:
        self.errors.append(RowError(line=self.line, field=column, message=str(message)))


def _text(row: dict, column: str) -> str:
    value = row.get(column)
    if isinstance(value, list | tuple):
        return ";".join(_cell(item) for item in value)
    return _cell(value)


def _address(row: dict, context: _Context, problems: _Problems) -> dict | None:
    values = {column: _text(row, column) for column in ADDRESS_COLUMNS}
    if not values["estate"]:
        problems.add("estate", _("Give the estate or building."))
        return None
    estate = context.estates.get(values["estate"].casefold())
    code = values["sub_district"]
    if code:
        area = context.sub_districts.get(code.casefold())
        if area is None:
            if code.casefold() in context.other_codes:
                message = _("Sub-district “%(code)s” is not in this list's districts.")
            else:
                message = _("There is no sub-district “%(code)s”.")
            problems.add("sub_district", message % {"code": code})
            return None
    elif estate is not None:
        area = context.sub_districts.get(estate.sub_district.code.casefold())
        if area is None:
            problems.add("estate", _("This estate is not in this list's districts."))
            return None
    else:
        problems.add("sub_district", _("The estate is not known: give the sub-district's code."))
        return None
    if estate is not None and estate.sub_district_id != area.pk:
        estate = None  # the code given wins; the address is kept as written
    cut = {column: values[column][: LENGTHS[column]] for column in ("block", "floor", "flat")}
    return {
        "estate_name": values["estate"][: LENGTHS["estate"]],
        "estate": estate,
        **cut,
        "sub_district": area,
        "district_id": area.district_id,
    }


def _reasons(row: dict, context: _Context, problems: _Problems) -> tuple[list[str], int]:
    value = row.get("reasons")
    parts = value if isinstance(value, list | tuple) else REASON_SEPARATORS.split(_cell(value))
    reasons = []
    for part in (_cell(item) for item in parts):
        if not part:
            continue
        code = context.reasons.get(part.casefold())
        if code is None:
            problems.add("reasons", _("“%(reason)s” is not a listing reason.") % {"reason": part})
        elif code not in reasons:
            reasons.append(code)
    indicators = 0
    text = _text(row, "high_load_indicators")
    if text:
        try:
            indicators = int(text)
        except ValueError:
            indicators = -1
        if not 0 <= indicators <= MAX_HIGH_LOAD_INDICATORS:
            problems.add(
                "high_load_indicators",
                _("Give a whole number from 0 to %(most)d.") % {"most": MAX_HIGH_LOAD_INDICATORS},
            )
            indicators = 0
    return sorted(reasons), indicators


def _phone(raw: str, column: str, problems: _Problems) -> PhoneNumber | str:
    """The number parsed once (a number without a country code is Hong Kong's); the model
    field takes the parsed number as it is. The message is in our own words: the phone
    library's have no Traditional Chinese."""
    if not raw:
        return ""
    try:
        number = PhoneNumber.from_string(raw, region="HK")
    except Exception:  # noqa: BLE001 - the library raises its own parse error
        number = None
    if number is None or not number.is_valid():
        problems.add(column, str(INVALID_PHONE))
        return ""
    return number


def _person(row: dict, k: int, context: _Context, problems: _Problems) -> Person | None:
    columns = [f"person{k}_{name}" for name in PERSON_FIELDS]
    if not any(row.get(column) for column in columns):
        return None
    values = {name: _text(row, column) for name, column in zip(PERSON_FIELDS, columns, strict=True)}
    column = f"person{k}_{{}}".format
    if not (values["name_zh"] or values["name_en"]):
        problems.add(column("name_zh"), _("Give the person's name, in Chinese or English."))
    for name in ("name_zh", "name_en"):
        if len(values[name]) > NAME_LENGTH:
            problems.add(column(name), _("At most %(limit)d characters.") % {"limit": NAME_LENGTH})
    choices = {}
    for name, known, default in (
        ("age_band", context.age_bands, AgeBand.UNKNOWN),
        ("role", context.roles, PersonRole.ELDER),
        ("id_type", context.id_types, ""),
    ):
        choices[name] = default
        if values[name]:
            choices[name] = known.get(values[name].casefold())
            if choices[name] is None:
                problems.add(
                    column(name),
                    _("“%(value)s” is not one of the choices.") % {"value": values[name][:40]},
                )
                choices[name] = default
    identity = None
    if values["id_number"]:
        try:
            identity = protected_identity(choices["id_type"], values["id_number"])
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                problems.add(column(name), " ".join(str(m) for m in messages))
    person = Person(
        position=k,
        name_zh=values["name_zh"][:NAME_LENGTH],
        name_en=values["name_en"][:NAME_LENGTH],
        age_band=choices["age_band"],
        role=choices["role"],
        phone=_phone(values["phone"], column("phone"), problems),
    )
    if identity is not None:  # as ``referrals.submission._apply`` keeps a referral's
        person.id_type, person.id_number_masked = identity.id_type, identity.masked
        person.id_number_encrypted, person.id_number_hash = identity.ciphertext, identity.digest
    return person


def _check_row(row: dict, line: int, context: _Context) -> tuple[_Row | None, list[RowError]]:
    problems = _Problems(line)
    source_row_id = _text(row, "source_row_id")
    if not source_row_id:
        problems.add("source_row_id", _("Give the source's row id."))
    for column, limit in LENGTHS.items():
        if len(_text(row, column)) > limit:
            problems.add(column, _("At most %(limit)d characters.") % {"limit": limit})
    address = _address(row, context, problems)
    reasons, indicators = _reasons(row, context, problems)
    people = [
        person
        for k in range(1, MAX_PEOPLE + 1)
        if (person := _person(row, k, context, problems)) is not None
    ]
    if not people:
        problems.add("person1_name_zh", _("Give at least one person living there."))
    if problems.errors or address is None:
        return None, problems.errors
    household = Household(
        visit_list=context.visit_list,
        source_row_id=source_row_id,
        reasons=reasons,
        high_load_indicators=indicators,
        priority=priority_of(reasons, indicators),
        **address,
    )
    return _Row(household=household, people=people), []


# --- Loading -----------------------------------------------------------------------------


def _checked(rows: list[dict], context: _Context, existing: set[str]):
    """(rows to write, how many are already there, every error)."""
    ready, errors, unchanged, seen = [], [], 0, {}
    for position, row in enumerate(rows):
        line = row.get(LINE_KEY, position + 2)
        source_row_id = _text(row, "source_row_id")
        if source_row_id in seen:
            errors.append(
                RowError(
                    line=line,
                    field="source_row_id",
                    message=_("The same source row id is on line %(line)s.")
                    % {"line": seen[source_row_id]},
                )
            )
            continue
        if source_row_id:
            seen[source_row_id] = line
        if source_row_id in existing:
            unchanged += 1
            continue
        checked, row_errors = _check_row(row, line, context)
        errors.extend(row_errors)
        if checked is not None:
            ready.append(checked)
    return ready, unchanged, errors


def _write(ready: list[_Row], *, actor, client) -> None:
    teams: dict[int, object] = {}
    for row in ready:
        area = row.household.sub_district
        if area.pk not in teams:
            teams[area.pk] = team_for(area)
        row.household.team = teams[area.pk]
    households = Household.objects.bulk_create(
        [row.household for row in ready], batch_size=BATCH_SIZE
    )
    people = []
    for household, row in zip(households, ready, strict=True):
        for person in row.people:
            person.household_id = household.pk
            people.append(person)
    Person.objects.bulk_create(people, batch_size=BATCH_SIZE)
    note = _("Loaded by the partner system %(client)s.") % {"client": client} if client else ""
    HouseholdEvent.objects.bulk_create(
        (
            HouseholdEvent(
                household_id=household.pk,
                kind=HouseholdEvent.Kind.LOADED,
                actor=actor,
                note=note,
            )
            for household in households
        ),
        batch_size=BATCH_SIZE,
    )


def load_households(
    visit_list: VisitList, rows: Iterable[dict], *, actor=None, client=None
) -> LoadReport:
    """Check every row, then store them all, or none (``LoadRefused``). Rows already in the
    list (by ``source_row_id``) are counted ``unchanged``. Each household goes to the caring
    team of its sub-district (``assignment.team_for``), with the priority its reasons give."""
    rows = list(rows)
    most = settings.OUTREACH_MAX_ROWS
    if len(rows) > most:
        raise _refuse_file(
            _("A list is loaded %(most)d rows at a time at most; this has %(count)d.")
            % {"most": most, "count": len(rows)}
        )
    with transaction.atomic():
        # Loads of one list take turns: the second sees the first one's rows as there.
        VisitList.objects.select_for_update().filter(pk=visit_list.pk).first()
        existing = set(
            Household.objects.filter(visit_list=visit_list).values_list("source_row_id", flat=True)
        )
        ready, unchanged, errors = _checked(rows, _Context.of(visit_list), existing)
        report = LoadReport(created=len(ready), unchanged=unchanged, errors=errors)
        if errors:
            report.created = 0
            raise LoadRefused(report)
        _write(ready, actor=actor, client=client)
    return report
