from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("referrals", "0023_sync_index")]

    operations = []
