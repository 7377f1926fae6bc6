# The access log's partner client, filled in for the reads logged before it had the column.
#
# The column itself (AccessLog.client) is added by 0011, which was generated while the
# model already had it; this migration fills it from ``detail``, where the API wrote
# "client <OAuth2 client id>" (and ", identity number in full" for a full identity number).

from django.db import migrations
from django.db.models import Q


def client_from_detail(apps, schema_editor):
    AccessLog = apps.get_model("referrals", "AccessLog")
    PartnerClient = apps.get_model("accounts", "PartnerClient")
    for partner in PartnerClient.objects.select_related("application"):
        named = f"client {partner.application.client_id}"
        AccessLog.objects.filter(client__isnull=True, channel="api").filter(
            Q(detail=named) | Q(detail__startswith=f"{named},")
        ).update(client=partner)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_partner_intake"),
        ("oauth2_provider", "0001_initial"),
        ("referrals", "0011_token_per_referrer_and_wider_mask"),
    ]

    operations = [migrations.RunPython(client_from_detail, migrations.RunPython.noop)]
