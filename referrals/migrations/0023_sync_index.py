from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("referrals", "0022_case_note_event")]

    operations = []
