"""Tests of outreach. The helpers below make what the loading, list-page and API tests
share: a visit list of the Sham Shui Po office, and a CSV file of rows."""

import csv
import io
from datetime import date

from django.core.files.uploadedfile import SimpleUploadedFile

from outreach.loading import COLUMNS
from outreach.models import ListSource, VisitList
from tests import factories

VALID_HKID = "A123456(3)"


def make_list(created_by, *, office="SSP", **fields) -> VisitList:
    return VisitList.objects.create(
        name=fields.pop("name", "Elderly living alone, test"),
        source=ListSource.HOUSING_DEPARTMENT,
        welfare_office=factories.office(office),
        target_date=date(2026, 12, 31),
        created_by=created_by,
        **fields,
    )


def row(source_row_id, **values) -> dict:
    """A good row in sub-district F01 with one person, changed by ``values``."""
    return {
        "source_row_id": str(source_row_id),
        "estate": "Test Estate",
        "block": "Block A",
        "floor": "12",
        "flat": f"{source_row_id}",
        "sub_district": "F01",
        "reasons": "living_alone",
        "high_load_indicators": "0",
        "person1_name_zh": "陳測試",
        "person1_name_en": "Chan Test",
        "person1_age_band": "80+",
        "person1_role": "elder",
        "person1_phone": "6123 4567",
        **values,
    }


def csv_upload(rows, *, name="list.csv", bom=False) -> SimpleUploadedFile:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8-sig" if bom else "utf-8")
    return SimpleUploadedFile(name, data, content_type="text/csv")
