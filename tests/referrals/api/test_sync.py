"""Incremental sync through the partner API while referrals change underneath.

A pass follows ``next`` from the first page to the last. Another thread keeps moving the
organisation's referrals through the lifecycle services meanwhile, each change in its own
committed transaction. Within one pass no referral comes twice; the pass and the next one
(``updated_after`` = the pass's ``until``) together hold every referral, each at its latest
version.
"""

import random
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client

from referrals import services
from referrals.models import Referral, Status
from tests import factories
from tests.referrals.partners import bearer, partner_client, token_for

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL (CI has it)"
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

URL = "/api/v1/referrals/"
SETTLE = 0.3


@pytest.fixture
def organisation_referrals(settings, referrer, caring_team, ifsc_unit, other_unit):
    settings.API_SYNC_SETTLE_SECONDS = SETTLE
    settings.API_RATE_LIMIT = "100000/min"
    mine = [
        factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            assigned_unit=ifsc_unit,
            status=Status.ASSIGNED,
            reference=f"SSP-2026-{n:06d}",
        )
        for n in range(120)
    ]
    for n in range(30):
        factories.ReferralFactory(
            referrer=referrer,
            referring_team=caring_team,
            assigned_unit=other_unit,
            status=Status.ASSIGNED,
            reference=f"OTH-2026-{n:06d}",
        )
    application = partner_client(ifsc_unit.organisation, scopes=("referrals:read",))
    time.sleep(SETTLE)  # let the seeded rows settle
    return {"references": {r.reference for r in mine}, "application": application}


def sync_pass(client, token, between_pages=None, **params) -> tuple[list[dict], str]:
    """Follow ``next`` from the first page to the last; the rows seen and the pass's until."""
    rows, url, until = [], URL, None
    response = client.get(url, {"page_size": 15, **params}, **bearer(token))
    while True:
        assert response.status_code == 200, response.content
        page = response.json()
        until = until or page["until"]
        assert page["until"] == until  # every page of a pass has the same end
        rows.extend(page["results"])
        if not page["next"]:
            return rows, until
        if between_pages:
            between_pages()
        response = client.get(page["next"], **bearer(token))


class Writer(threading.Thread):
    """Moves random referrals on (accept, start, hold, resume) until told to stop."""

    def __init__(self, partner, references):
        super().__init__(daemon=True)
        self.partner, self.references = partner, sorted(references)
        self.stop, self.changed, self.errors = threading.Event(), set(), []
        self.count, self.progress = 0, threading.Condition()

    def wait_for_more(self, timeout=10):
        """Block until the writer has committed one more change than now."""
        with self.progress:
            seen = self.count
            assert self.progress.wait_for(lambda: self.count > seen or self.errors, timeout)

    def run(self):
        steps = {
            Status.ASSIGNED: services.referral_accept,
            Status.ACCEPTED: services.referral_start,
            Status.IN_PROGRESS: lambda **kw: services.referral_hold(reason="waiting", **kw),
            Status.ON_HOLD: services.referral_resume,
        }
        chooser = random.Random(6)  # noqa: S311 - test data
        try:
            while not self.stop.is_set():
                referral = Referral.objects.get(reference=chooser.choice(self.references))
                steps[referral.status](referral_id=referral.pk, actor=None, partner=self.partner)
                self.changed.add(referral.reference)
                with self.progress:
                    self.count += 1
                    self.progress.notify_all()
                time.sleep(0.005)
        except Exception as error:  # noqa: BLE001 - reported by the test
            with self.progress:
                self.errors.append(error)
                self.progress.notify_all()
        finally:
            connection.close()


def test_a_pass_during_changes_sees_none_twice_and_the_next_pass_catches_up(
    organisation_referrals,
):
    client = Client()
    application = organisation_referrals["application"]
    token = token_for(client, application)
    writer = Writer(application.partner, organisation_referrals["references"])
    writer.start()
    try:
        writer.wait_for_more()
        # Pages and changes interleave: before each next page, at least one more change.
        first, until = sync_pass(client, token, between_pages=writer.wait_for_more)
        changed_during_pass = set(writer.changed)
    finally:
        writer.stop.set()
        writer.join(10)
    assert not writer.errors
    assert changed_during_pass, "the writer made no change while the pass ran"

    time.sleep(SETTLE)
    second, _ = sync_pass(client, token, updated_after=until)

    seen_first = [row["reference"] for row in first]
    assert len(seen_first) == len(set(seen_first)), "a referral came twice in one pass"
    seen_second = [row["reference"] for row in second]
    assert len(seen_second) == len(set(seen_second))
    assert set(seen_first) | set(seen_second) == organisation_referrals["references"]
    assert writer.changed <= set(seen_second)  # every change is in the next pass
    latest = dict(Referral.objects.values_list("reference", "version"))
    assert all(row["version"] == latest[row["reference"]] for row in second)
    assert all(row["unit"] == "ifsc-f-01" for row in first + second)


def test_a_change_still_committing_when_a_pass_starts_is_in_the_next_pass(
    organisation_referrals,
):
    """A change whose update time is set just before a pass starts, committed while the pass
    runs: the pass shows the row once (as it was), the next pass shows the change. Without
    the settle time the change would come twice in the first pass and never in the next."""
    client = Client()
    application = organisation_referrals["application"]
    token = token_for(client, application)
    target = Referral.objects.get(reference="SSP-2026-000007")
    written, release = threading.Event(), threading.Event()

    def slow_change():
        try:
            with transaction.atomic():
                services.referral_accept(
                    referral_id=target.pk, actor=None, partner=application.partner
                )
                written.set()  # its update time is set; the commit waits
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_change)
    thread.start()
    assert written.wait(10)
    threading.Timer(0.5, release.set).start()  # commits while the pass is under way
    first, until = sync_pass(client, token)
    thread.join(10)
    time.sleep(SETTLE)
    second, _ = sync_pass(client, token, updated_after=until)

    [before] = [row for row in first if row["reference"] == "SSP-2026-000007"]
    assert before["status"] == "assigned"
    [caught] = [row for row in second if row["reference"] == "SSP-2026-000007"]
    assert caught["status"] == "accepted"


def test_until_is_held_back_and_can_be_given(organisation_referrals, settings):
    client = Client()
    token = token_for(client, organisation_referrals["application"])
    fresh = Referral.objects.get(reference="SSP-2026-000003")
    fresh.save()  # updated just now: younger than the settle time

    listed = client.get(URL, {"page_size": 500}, **bearer(token)).json()
    refs = {row["reference"] for row in listed["results"]}
    assert "SSP-2026-000003" not in refs and len(refs) == 119

    bad = client.get(URL, {"until": "yesterday"}, **bearer(token))
    assert bad.status_code == 400 and bad.json()["fields"] == {
        "until": ["Enter a date and time in ISO 8601."]
    }
