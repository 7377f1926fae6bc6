from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("referrals", "0024_page_indexes")]

    operations = []
