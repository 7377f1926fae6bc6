"""A partner's sync page leaves nothing for the garbage collector (issue 20): a page of 500
is some 10,000 objects, and held by DRF's reference cycles (the serializer and its rows, the
view and its response) they waited for a full collection, 100-300 ms of the sync's p95. The
web workers also freeze what loading the portal made (``welfare_portal/wsgi.py``)."""

import gc
import subprocess
import sys

import pytest
from django.test import RequestFactory

from referrals.api.views import ReferralList
from referrals.models import Referral, Status
from tests import factories
from tests.referrals.partners import partner_client, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_collection():
    """The collector off while the page is read, and its own state put back after."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    yield
    gc.set_debug(0)
    gc.garbage.clear()
    if enabled:
        gc.enable()


def cyclic_garbage() -> list:
    """What only a collection would free, now."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    found = list(gc.garbage)
    gc.set_debug(0)
    gc.garbage.clear()
    return found


def test_a_sync_page_is_freed_with_its_response(client, caring_team, no_collection):
    unit = factories.ServiceUnitFactory()
    for _ in range(3):
        factories.ReferralFactory(assigned_unit=unit, status=Status.ASSIGNED)
    token = token_for(client, partner_client(unit.organisation))
    gc.collect()
    request = RequestFactory().get("/api/v1/referrals/", HTTP_AUTHORIZATION=f"Bearer {token}")
    response = ReferralList.as_view()(request)
    response.render()
    assert response.status_code == 200 and len(response.data["results"]) == 3
    del request, response
    left = [o for o in cyclic_garbage() if isinstance(o, Referral)]
    assert left == []


def last_line(script: str) -> str:
    """What a fresh interpreter running ``script`` printed last."""
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout.strip().splitlines()[-1]


def test_the_web_worker_freezes_what_loading_the_portal_made():
    """The WSGI module, imported as gunicorn imports it, leaves the loaded portal frozen."""
    script = (
        "import gc, os\n"
        "os.environ['DEBUG'] = 'true'\n"
        "import welfare_portal.wsgi\n"
        "import referrals.api.views\n"
        "print(gc.get_freeze_count())\n"
    )
    assert int(last_line(script)) > 50_000


def test_a_worker_process_freezes_what_it_loaded_when_it_starts():
    """``worker_process_init``, sent in each worker process Celery starts."""
    script = (
        "import gc, os\n"
        "os.environ['DEBUG'] = 'true'\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'welfare_portal.settings')\n"
        "import django; django.setup()\n"
        "from celery.signals import worker_process_init\n"
        "import welfare_portal.celery\n"
        "before = gc.get_freeze_count()\n"
        "worker_process_init.send(sender=None)\n"
        "print(before, gc.get_freeze_count())\n"
    )
    before, after = map(int, last_line(script).split())
    assert before == 0 and after > 50_000
