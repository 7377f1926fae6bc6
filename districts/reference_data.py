"""Load the districts and welfare offices shipped in ``districts/data/``.

Used by the initial data migration and by ``seed_demo``; safe to run again: rows are
matched by code and updated in place.
"""

from pathlib import Path

from welfare_portal.csv_rows import read_csv_rows

DATA_DIR = Path(__file__).resolve().parent / "data"


def read_rows(filename: str) -> list[dict[str, str]]:
    return read_csv_rows(DATA_DIR / filename)


def load_districts(*, welfare_office_model, district_model) -> None:
    offices = {}
    for row in read_rows("hk_welfare_offices.csv"):
        offices[row["code"]], _ = welfare_office_model.objects.update_or_create(
            code=row["code"], defaults={"name_en": row["name_en"], "name_zh": row["name_zh"]}
        )
    for row in read_rows("hk_districts.csv"):
        district_model.objects.update_or_create(
            code=row["code"],
            defaults={
                "name_en": row["name_en"],
                "name_zh": row["name_zh"],
                "region": row["region"],
                "welfare_office": offices[row["welfare_office_code"]],
            },
        )
