from django.db import migrations


def load(apps, schema_editor):
    from services.reference_data import load_unit_types_and_needs

    load_unit_types_and_needs(
        unit_type_model=apps.get_model("services", "UnitType"),
        need_model=apps.get_model("services", "NeedCategory"),
    )


class Migration(migrations.Migration):
    dependencies = [("services", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
