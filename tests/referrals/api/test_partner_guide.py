"""The README's partner guide, run as written (curl and python3) against the live test server
with the demo's clients: token, first page, filing a referral, accepting it."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command

from referrals.models import Referral, Status

README = Path(__file__).resolve().parents[3] / "README.md"


def guide_script() -> str:
    section = README.read_text().split("## Partner API", 1)[1]
    [script] = re.findall(r"```bash\n(API=.*?)```", section, flags=re.S)
    return script


@pytest.mark.skipif(shutil.which("curl") is None, reason="the guide uses curl")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_readme_guide_works_against_the_demo(live_server, eager_tasks):
    call_command("seed_demo", "--allow-production", "--referrals", "0", verbosity=0)
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
