"""Load the unit types and need categories shipped in ``services/data/``.

Used by the data migration; safe to run again (rows matched by code).
"""

from pathlib import Path

from welfare_portal.csv_rows import read_csv_rows

DATA_DIR = Path(__file__).resolve().parent / "data"


def read_rows(filename: str) -> list[dict[str, str]]:
    return read_csv_rows(DATA_DIR / filename)


def load_unit_types_and_needs(*, unit_type_model, need_model) -> None:
    unit_types = {}
    for row in read_rows("hk_service_unit_types.csv"):
        unit_types[row["code"]], _ = unit_type_model.objects.update_or_create(
            code=row["code"],
            defaults={"name_en": row["name_en"], "name_zh": row["name_zh"], "notes": row["notes"]},
        )
    for position, row in enumerate(read_rows("need_categories.csv")):
        need, _ = need_model.objects.update_or_create(
            code=row["code"],
            defaults={
                "name_en": row["name_en"],
                "name_zh": row["name_zh"],
                "ordering": position * 10,
            },
        )
        for code in filter(None, row["unit_types"].split(";")):
            unit_types[code].needs.add(need)
