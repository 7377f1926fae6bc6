"""Loading households: a file with one bad row is refused whole with a report by line (and
nothing stored), the same file twice adds nothing, XLSX loads as CSV does, identity numbers
are kept as a referral's, and the messages are in the caller's language."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from outreach.loading import (
    COLUMNS,
    LoadRefused,
    load_households,
    rows_from_file,
)
from outreach.models import Estate, Household, HouseholdEvent, Person, Priority
from referrals.identity import decrypt, keyed_hash, normalise
from tests import factories
from tests.outreach import VALID_HKID, csv_upload, make_list, row

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit_list(district_officer):
    return make_list(district_officer)


def test_a_good_file_loads_each_household_to_its_sub_districts_team(
    visit_list, caring_team, district_officer
):
    rows = rows_from_file(csv_upload([row(1), row(2, reasons="carer;high_load_carer")]))
    report = load_households(visit_list, rows, actor=district_officer)
    assert (report.created, report.unchanged, report.errors) == (2, 0, [])
    first, second = Household.objects.filter(visit_list=visit_list).order_by("source_row_id")
    assert first.team == caring_team and first.sub_district.code == "F01"
    assert first.district.code == "F"
    assert first.priority == Priority.HIGH
    assert second.reasons == ["carer", "high_load_carer"]
    person = first.people.get()
    assert (person.name_zh, person.age_band, str(person.phone)) == ("陳測試", "80+", "+85261234567")
    assert (
        HouseholdEvent.objects.filter(
            household__visit_list=visit_list,
            kind=HouseholdEvent.Kind.LOADED,
            actor=district_officer,
        ).count()
        == 2
    )


def test_a_file_with_bad_rows_is_refused_whole_with_a_line_by_line_report(visit_list, caring_team):
    upload = csv_upload(
        [
            row(1),  # line 2: good
            row(2, person1_phone="123"),  # line 3
            row(3, sub_district="K01", estate="Nowhere"),  # line 4: not a sub-district
            row(4),  # line 5: good
            row(5, reasons="living_alone;astrology", high_load_indicators="21"),  # line 6
            row(1),  # line 7: the same source row id as line 2
            row(
                6,
                person1_name_zh="",
                person1_name_en="",
                person1_age_band="",
                person1_role="",
                person1_phone="",
            ),  # line 8: nobody  # fmt: skip
        ]
    )
    with pytest.raises(LoadRefused) as refused:
        load_households(visit_list, rows_from_file(upload))
    found = {(error.line, error.field) for error in refused.value.report.errors}
    assert found == {
        (3, "person1_phone"),
        (4, "sub_district"),
        (6, "reasons"),
        (6, "high_load_indicators"),
        (7, "source_row_id"),
        (8, "person1_name_zh"),
    }
    assert "5 rows" in str(refused.value.message)
    assert not Household.objects.exists() and not Person.objects.exists()
    assert not HouseholdEvent.objects.exists()


def test_a_sub_district_of_another_office_is_refused(visit_list, caring_team):
    factories.SubDistrictFactory(code="J99", district=factories.district("J"))
    with pytest.raises(LoadRefused) as refused:
        load_households(visit_list, [row(1, sub_district="J99")])
    (error,) = refused.value.report.errors
    assert (error.line, error.field) == (2, "sub_district")
    assert "not in this list's districts" in error.message


def test_the_same_file_loaded_twice_adds_nothing(visit_list, caring_team):
    rows = [row(number) for number in range(1, 6)]
    assert load_households(visit_list, rows_from_file(csv_upload(rows))).created == 5
    Household.objects.filter(source_row_id="1").update(status="refused")
    again = load_households(visit_list, rows_from_file(csv_upload(rows)))
    assert (again.created, again.unchanged) == (0, 5)
    assert Household.objects.count() == 5 and Person.objects.count() == 5
    assert Household.objects.get(source_row_id="1").status == "refused"
    more = load_households(visit_list, rows_from_file(csv_upload([*rows, row(6)])))
    assert (more.created, more.unchanged) == (1, 5)


def test_a_known_estate_gives_the_sub_district(visit_list, caring_team, ssp_area):
    Estate.objects.create(name_zh="測試邨", name_en="Test Court", sub_district=ssp_area)
    report = load_households(visit_list, [row(1, estate="test court", sub_district="")])
    assert report.created == 1
    household = Household.objects.get()
    assert household.sub_district == ssp_area and household.estate.name_zh == "測試邨"
    with pytest.raises(LoadRefused) as refused:
        load_households(visit_list, [row(2, estate="Unknown Court", sub_district="")])
    assert refused.value.report.errors[0].field == "sub_district"


def test_csv_with_a_byte_order_mark_and_translated_labels(visit_list, caring_team):
    upload = csv_upload(
        [
            row(
                1,
                reasons="elder living alone、Carer",
                person1_age_band="80 or above",
                person1_role="Carer",
            )
        ],
        bom=True,
    )
    load_households(visit_list, rows_from_file(upload))
    household = Household.objects.get()
    assert household.reasons == ["carer", "living_alone"]
    assert household.people.get().role == "carer"


def test_an_xlsx_file_loads(visit_list, caring_team):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(COLUMNS)
    for number in (101, 102):
        values = row(number, floor=12, high_load_indicators=3, person1_phone=61234567)
        sheet.append([values.get(column) for column in COLUMNS])
    sheet.append([None] * len(COLUMNS))  # a blank row is skipped
    bad = row(103, person1_age_band="ancient")
    sheet.append([bad.get(column) for column in COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    upload = SimpleUploadedFile("list.xlsx", buffer.getvalue())
    rows = rows_from_file(upload)
    assert [item["line"] for item in rows] == [2, 3, 5]
    with pytest.raises(LoadRefused) as refused:
        load_households(visit_list, rows)
    assert [(e.line, e.field) for e in refused.value.report.errors] == [(5, "person1_age_band")]
    report = load_households(visit_list, rows[:2])
    assert report.created == 2
    household = Household.objects.get(source_row_id="101")
    assert household.floor == "12" and household.priority == Priority.PRIORITY_VISIT
    assert str(household.people.get().phone) == "+85261234567"


def test_identity_numbers_are_kept_as_a_referrals(visit_list, caring_team):
    load_households(visit_list, [row(1, person1_id_type="hkid", person1_id_number="a123456(3)")])
    person = Person.objects.get()
    number = normalise("hkid", VALID_HKID)
    assert person.id_number_hash == keyed_hash("hkid", number)
    assert decrypt(person.id_number_encrypted) == number
    assert number not in person.id_number_encrypted
    assert person.id_number_masked == "A12****(*)"


def test_a_wrong_identity_number_is_named_without_quoting_it(visit_list, caring_team):
    with pytest.raises(LoadRefused) as refused:
        load_households(visit_list, [row(1, person1_id_type="hkid", person1_id_number="A1234567")])
    (error,) = refused.value.report.errors
    assert error.field == "person1_id_number"
    assert "123456" not in error.message


def test_errors_are_in_the_active_language(visit_list, caring_team):
    bad = row(1, person1_id_type="hkid", person1_id_number="A1234567")
    with translation.override("zh-hant"), pytest.raises(LoadRefused) as refused:
        load_households(visit_list, [bad])
    assert refused.value.report.errors[0].message == "身份證號碼無效：檢查碼不相符。"
    with pytest.raises(LoadRefused) as refused:
        load_households(visit_list, [bad])
    assert "check digit" in refused.value.report.errors[0].message


def test_a_file_without_the_required_columns_is_refused(visit_list):
    upload = SimpleUploadedFile("list.csv", b"name,phone\nChan,61234567\n")
    with pytest.raises(LoadRefused) as refused:
        rows_from_file(upload)
    assert refused.value.report.errors[0].field == "file"


def test_too_many_rows_are_refused(visit_list, caring_team, settings):
    settings.OUTREACH_MAX_ROWS = 2
    with pytest.raises(LoadRefused):
        load_households(visit_list, [row(1), row(2), row(3)])
    assert not Household.objects.exists()
