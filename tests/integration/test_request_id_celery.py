"""A request's id follows its work into a real Celery worker (issue 15): the tasks a page
queues, and those they queue in turn, log the request's X-Request-ID; a task started
outside a request (beat) logs an id of its own. The worker writes the same lines as the web
processes: text here (the test run's LOG_FORMAT), JSON with LOG_FORMAT=json."""

import json
import re
import uuid

from referrals import tasks
from referrals.models import Referral
from tests.integration.conftest import CeleryWorker
from tests.integration.test_worker_reliability import (
    NEW,
    child_family_form,
    wait_until_assigned,
)

# "<time> INFO [<request id>] celery.app.trace: Task <name>[<task id>] succeeded in ..."
SUCCEEDED = re.compile(
    r"\[(?P<request_id>[^\]]+)\] celery\.app\.trace: Task (?P<task>\S+)\[(?P<task_id>[^\]]+)\] "
    r"succeeded in"
)
PERSONAL_FIELDS = ("subject_name_zh", "subject_name_en", "phone", "address", "id_number")


def submit(client, referrer, form: dict, request_id: str) -> Referral:
    client.force_login(referrer)
    check = client.post(NEW, form, headers={"X-Request-ID": request_id})
    draft = Referral.objects.get()  # kept as a draft; "check your answers" files it
    response = client.post(
        check.url, {"version": draft.version}, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 302
    assert response["X-Request-ID"] == request_id
    referral = Referral.objects.get()
    wait_until_assigned(referral.pk)
    return referral


def test_the_tasks_a_request_queues_log_its_id_and_beats_tasks_their_own(
    client, referrer, referral_form, ifsc_unit, unit_staff, worker, smtp_server
):
    request_id = str(uuid.uuid4())
    form = child_family_form(referral_form)
    submit(client, referrer, form, request_id)
    worker.wait_until_idle()
    log = worker.log()
    ran = [match.groupdict() for match in SUCCEEDED.finditer(log)]
    # Routing, then the notifications and e-mails it queued from the worker.
    assert len(ran) >= 2, log
    assert {line["request_id"] for line in ran} == {request_id}, log
    for field in PERSONAL_FIELDS:
        assert form[field] not in log, field

    worker.mark()
    sweep = tasks.sweep_outbox.delay()  # as beat sends it: no request
    worker.result_of(sweep.id)
    [own] = [match for match in SUCCEEDED.finditer(worker.log()) if match["task_id"] == sweep.id]
    assert own["request_id"] not in (request_id, "None")
    uuid.UUID(own["request_id"])


def test_a_json_worker_writes_one_object_a_line_with_the_request_id(
    celery_worker_process,
    broker,
    celery_app,
    transactional_db,
    client,
    referrer,
    referral_form,
    ifsc_unit,
    unit_staff,
    smtp_server,
    tmp_path,
):
    broker.hold_session_lock()
    celery_worker_process.stop()  # one consumer at a time; the next test starts it again
    broker.purge(unacked=True)
    json_worker = CeleryWorker(
        env={**celery_worker_process.env, "LOG_FORMAT": "json"}, log_dir=tmp_path, broker=broker
    )
    try:
        json_worker.start()
        request_id = str(uuid.uuid4())
        json_worker.mark()
        submit(client, referrer, child_family_form(referral_form), request_id)
        json_worker.wait_until_idle()
        log = json_worker.log()
    finally:
        json_worker.stop()

    # Every line the worker logged is a JSON object (Celery's start-up banner is printed
    # before it logs, outside the part read here).
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    succeeded = [
        line
        for line in lines
        if line["logger"] == "celery.app.trace" and "succeeded in" in line["message"]
    ]
    assert len(succeeded) >= 2, log
    for line in succeeded:
        assert line["request_id"] == request_id
        assert line["task_name"].startswith("referrals.tasks.")
        assert f"[{line['task_id']}] succeeded" in line["message"]
        assert line["timestamp"].endswith("Z")
