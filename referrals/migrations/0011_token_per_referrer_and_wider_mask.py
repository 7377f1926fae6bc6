"""Issue 14: a form's token is unique per referrer, not across everyone (item 5); the
stored masks of identity numbers hide more (item 2); the access log names the partner
client of an API read (item 13, filled in by 0012)."""

import re

import django.db.models.deletion
from django.db import migrations, models

# The masks written before: HKID ``A123***(4)`` / ``AB987***(4)``, Taiwan ID ``A123****89``.
OLD_HKID = re.compile(r"([A-Z]{1,2})(\d{2})\d\*\*\*\(.\)")
OLD_TWID = re.compile(r"([A-Z]\d{2})\d\*{4}(\d{2})")


def wider(masked: str) -> str:
    """The new mask from the old one: the number itself is not needed (nor decrypted)."""
    if match := OLD_HKID.fullmatch(masked):
        return f"{match[1]}{match[2]}****(*)"
    if match := OLD_TWID.fullmatch(masked):
        return f"{match[1]}*****{match[2]}"
    return masked


def widen_masks(apps, schema_editor):
    Referral = apps.get_model("referrals", "Referral")
    changed = []
    for referral in Referral.objects.exclude(id_number_masked="").only("id_number_masked"):
        new = wider(referral.id_number_masked)
        if new != referral.id_number_masked:
            referral.id_number_masked = new
            changed.append(referral)
    Referral.objects.bulk_update(changed, ["id_number_masked"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0010_webhook_standard_signatures"),
        ("accounts", "0003_partner_intake"),
    ]

    operations = [
        migrations.AddField(
            model_name="accesslog",
            name="client",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.partnerclient",
                verbose_name="partner API client",
            ),
        ),
        migrations.AlterField(
            model_name="referral",
            name="submission_token",
            field=models.UUIDField(
                blank=True,
                editable=False,
                help_text="The form's idempotency token: one form, one referral.",
                null=True,
                verbose_name="submission token",
            ),
        ),
        migrations.AddConstraint(
            model_name="referral",
            constraint=models.UniqueConstraint(
                fields=("referrer", "submission_token"), name="referral_token_per_referrer"
            ),
        ),
        migrations.RunPython(widen_masks, migrations.RunPython.noop, elidable=True),
    ]
