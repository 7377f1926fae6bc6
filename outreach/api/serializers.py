"""The shapes of ``POST /api/v1/outreach/lists/{id}/households/``: a batch of households as
a partner system sends them, and the answer.

These check the body's shape only (types, lengths, at most ``MAX_HOUSEHOLDS``); what a
household must meet is ``outreach.loading``'s, the import page's own: ``as_rows`` turns the
body into the file's rows, and the loader's errors are named back in the body's terms
(``field_of``: ``person2_phone`` is ``people.1.phone``).
"""

from rest_framework import serializers

from outreach.loading import ADDRESS_COLUMNS, LINE_KEY, MAX_PEOPLE, PERSON_FIELDS

MAX_HOUSEHOLDS = 1000


class AddressIn(serializers.Serializer):
    estate = serializers.CharField(max_length=120)
    block = serializers.CharField(max_length=40, required=False, allow_blank=True)
    floor = serializers.CharField(max_length=10, required=False, allow_blank=True)
    flat = serializers.CharField(max_length=10, required=False, allow_blank=True)
    sub_district = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        help_text="The sub-district's code; may be left out when the estate is known.",
    )


class PersonIn(serializers.Serializer):
    name_zh = serializers.CharField(max_length=100, required=False, allow_blank=True)
    name_en = serializers.CharField(max_length=100, required=False, allow_blank=True)
    age_band = serializers.CharField(
        max_length=20, required=False, allow_blank=True, help_text="0-17, 18-59, 60-69, 70-79, 80+"
    )
    role = serializers.CharField(
        max_length=20, required=False, allow_blank=True, help_text="elder, carer, cared_for, other"
    )
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    id_type = serializers.CharField(
        max_length=8, required=False, allow_blank=True, help_text="hkid or twid"
    )
    id_number = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        help_text="Kept encrypted, with a keyed hash and a mask, as a referral's.",
    )


class HouseholdIn(serializers.Serializer):
    source_row_id = serializers.CharField(
        max_length=64, help_text="The source's own id of the row: sending it again adds nothing."
    )
    address = AddressIn()
    reasons = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        help_text="living_alone, elderly_couple, carer, disability, high_load_carer, low_income",
    )
    high_load_indicators = serializers.IntegerField(required=False, min_value=0, max_value=20)
    people = serializers.ListField(child=PersonIn(), min_length=1, max_length=MAX_PEOPLE)


class HouseholdLoadIn(serializers.Serializer):
    households = serializers.ListField(child=HouseholdIn(), min_length=1, max_length=MAX_HOUSEHOLDS)


class HouseholdLoadOut(serializers.Serializer):
    created = serializers.IntegerField(help_text="Households added by this call.")
    unchanged = serializers.IntegerField(
        help_text="Households whose source_row_id was already in the list (left as they are)."
    )


def as_rows(households: list[dict]) -> list[dict]:
    """The body's households as the loader's rows (the file's columns), each with its index
    as its ``line``."""
    rows = []
    for index, household in enumerate(households):
        address = household["address"]
        row = {column: address.get(column, "") for column in ADDRESS_COLUMNS}
        row.update(
            {
                LINE_KEY: index,
                "source_row_id": household["source_row_id"],
                "reasons": household.get("reasons", []),
                "high_load_indicators": household.get("high_load_indicators", 0),
            }
        )
        for k, person in enumerate(household["people"], start=1):
            row.update({f"person{k}_{name}": person.get(name, "") for name in PERSON_FIELDS})
        rows.append(row)
    return rows


def field_of(column: str) -> str:
    """A file column in the body's terms: ``estate`` → ``address.estate``, ``person2_phone``
    → ``people.1.phone``."""
    if column in ADDRESS_COLUMNS:
        return f"address.{column}"
    if column.startswith("person") and "_" in column:
        number, _sep, name = column[len("person") :].partition("_")
        if number.isdigit():
            return f"people.{int(number) - 1}.{name}"
    return column
