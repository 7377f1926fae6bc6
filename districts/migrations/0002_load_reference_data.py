from django.db import migrations


def load(apps, schema_editor):
    from districts.reference_data import load_districts

    load_districts(
        welfare_office_model=apps.get_model("districts", "WelfareOffice"),
        district_model=apps.get_model("districts", "District"),
    )


class Migration(migrations.Migration):
    dependencies = [("districts", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
