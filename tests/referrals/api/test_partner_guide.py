"""The partner guide (docs/partner-api.md), run as written (curl and python3) against the
live test server with the demo's clients: token, first page, filing a referral, accepting
it; and its Python check of a webhook call, run on a call the portal really made."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from referrals.deliveries import delivery_send, webhook_deliveries
from referrals.models import Referral, ReferralEvent, Status, WebhookEndpoint, new_webhook_secret
from tests import factories
from tests.referrals.test_webhooks import LOOPBACK, PartnerEndpoint

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "partner-api.md"


def guide_script() -> str:
    [script] = re.findall(r"```bash\n(API=.*?)```", GUIDE.read_text(), flags=re.S)
    return script


# On a laptop without curl the guide cannot run as written; on CI a missing curl fails.
@pytest.mark.skipif(
    shutil.which("curl") is None and os.environ.get("CI") != "true", reason="the guide uses curl"
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_readme_guide_works_against_the_demo(live_server, eager_tasks):
    # The guide is the demo's (``./scripts/demo.sh``, DEBUG on): its published client secret
    # exists only when seeded in debug mode; with DEBUG off seed_demo issues random ones.
    with override_settings(DEBUG=True):
        call_command("seed_demo", "--referrals", "0", verbosity=0)
    script = guide_script().replace("API=http://127.0.0.1:8000", f"API={live_server.url}")

    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    first_page, accepted = run.stdout.strip().splitlines()
    assert set(json.loads(first_page)) == {"next", "previous", "until", "results"}
    answer = json.loads(accepted)
    assert answer["status"] == "accepted" and answer["unit"] == "ifsc-f-01"
    filed = Referral.objects.get(reference=answer["reference"])
    assert filed.status == Status.ACCEPTED and filed.referring_team.code == "care-team-f01"


def webhook_example() -> str:
    section = GUIDE.read_text()
    webhooks = section.split("**Webhooks.**", 1)[1].split("**Directory.**", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", webhooks, flags=re.S)
    return code


@pytest.mark.django_db
def test_the_readme_webhook_check_takes_a_real_call_once_and_refuses_forgeries(
    referrer, caring_team, ifsc_unit, settings, capsys
):
    settings.WEBHOOK_ALLOWED_PRIVATE_NETWORKS = LOOPBACK
    referral = factories.ReferralFactory(
        referrer=referrer, referring_team=caring_team, status="assigned", assigned_unit=ifsc_unit
    )
    event = ReferralEvent.objects.create(
        referral=referral, from_status="submitted", to_status="assigned", unit=ifsc_unit
    )
    with PartnerEndpoint() as partner:
        endpoint = WebhookEndpoint.objects.create(
            organisation=ifsc_unit.organisation, url=partner.url
        )
        [delivery] = webhook_deliveries(event, WebhookEndpoint.Event.ASSIGNED)
        assert delivery_send(delivery_id=delivery.pk).state == "sent"
    [call] = partner.received
    body, headers = call["body"].encode(), call["headers"]

    partner_code: dict = {}
    exec(webhook_example(), partner_code)  # noqa: S102 - the guide's own example
    partner_code["SECRET"] = endpoint.secret
    receive = partner_code["receive"]

    assert receive(body, headers) == 200
    assert capsys.readouterr().out == f"referral.assigned {referral.reference}\n"
    assert receive(body, headers) == 200  # the same call again (a retry): handled once
    assert capsys.readouterr().out == ""
    assert receive(body.replace(b"assigned", b"cancelled"), headers) == 400
    partner_code["SECRET"] = new_webhook_secret()
    assert receive(body, headers) == 400
