# Standard Webhooks signatures, public addresses only, and sending outside the row lock.

import base64

import django.core.validators
from django.db import migrations, models

import referrals.models.messaging
import welfare_portal.outbound

PREFIX = "whsec_"


def to_standard_secrets(apps, schema_editor):
    """``whsec_`` + base64 of the old secret's bytes: the HMAC key stays the bytes partners
    hold, so a partner that keeps its old secret string can still check the new signatures
    by base64-encoding it (and a stock library takes the new form as it is)."""
    WebhookEndpoint = apps.get_model("referrals", "WebhookEndpoint")
    for endpoint in WebhookEndpoint.objects.exclude(secret__startswith=PREFIX).only("secret"):
        endpoint.secret = PREFIX + base64.b64encode(endpoint.secret.encode()).decode()
        endpoint.save(update_fields=["secret"])


def to_old_secrets(apps, schema_editor):
    """Back to the old strings where the key bytes are text; a secret made after this
    migration (random bytes) stays as it is, and the old code signs with that string."""
    WebhookEndpoint = apps.get_model("referrals", "WebhookEndpoint")
    for endpoint in WebhookEndpoint.objects.filter(secret__startswith=PREFIX).only("secret"):
        try:
            old = base64.b64decode(endpoint.secret[len(PREFIX) :], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            continue
        if len(old) <= 100:
            endpoint.secret = old
            endpoint.save(update_fields=["secret"])


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0009_outbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="delivery",
            name="claimed_until",
            field=models.DateTimeField(blank=True, null=True, verbose_name="being sent until"),
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret",
            field=models.CharField(
                default=referrals.models.messaging.new_webhook_secret,
                help_text="Shared with the partner; used to sign every delivery.",
                max_length=200,
                verbose_name="signing secret",
            ),
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="url",
            field=models.URLField(
                max_length=500,
                validators=[
                    django.core.validators.URLValidator(schemes=["https", "http"]),
                    welfare_portal.outbound.PublicURLValidator(),
                ],
                verbose_name="URL",
            ),
        ),
        migrations.RunPython(to_standard_secrets, to_old_secrets),
    ]
