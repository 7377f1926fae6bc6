"""The production stack started for real: ``docker compose``, as docs/operations.md says.

The steps in the first ``bash`` block of docs/operations.md are run exactly as written, in a
copy of the repository (so the developer's own ``.env`` is never touched): the ``.env``
one-liner, ``docker compose up -d --build``, the optional seed, ``docker compose ps``. Then a
partner system files referrals through the web container while the worker and then the
database container restart; every referral is accepted once and routed, none lost. Last, the
stack is torn down and nothing of it is left.

The engine comes from scripts/compose_engine.sh (run as root; it installs Debian's docker.io,
starts dockerd with the vfs driver, and builds local stand-ins for the base images, since no
image registry is reachable here). ``./scripts/test.sh`` runs this module wherever it runs as
root, CI included; without root it is skipped, saying so (on CI, ``CI=true``, it fails instead).
``WP_COMPOSE_TEST=0`` switches it off.
Timings of each phase are written to ``last-run.json`` in the engine's state directory
(``$WP_COMPOSE_STATE``, default /var/tmp/welfare-portal-compose).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError

from referrals import identity

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ROOT / "docs" / "operations.md"
ENGINE = ROOT / "scripts" / "compose_engine.sh"

# What docs/operations.md must tell a production user to run, in this order.
EXPECTED_STEPS = [
    "python3 scripts/new_secrets.py > .env",
    "docker compose up -d --build",
    "docker compose exec web python manage.py seed_demo --allow-production",
    "docker compose ps",
]
LONG_RUNNING = {"postgres", "redis", "web", "worker", "deliveries-worker", "beat"}

pytestmark = [pytest.mark.compose, pytest.mark.integration]

# It needs root (packages, dockerd). Where it has root it runs, unless WP_COMPOSE_TEST=0; on
# CI (CI=true) without root it fails rather than skip.
if os.environ.get("WP_COMPOSE_TEST") == "0":
    pytest.skip(
        "WP_COMPOSE_TEST=0: the compose stack test is switched off", allow_module_level=True
    )
if os.geteuid() != 0 and os.environ.get("CI") != "true":
    pytest.skip(
        "the compose stack test needs root: it installs Docker and builds images (about 5 "
        "minutes); run ./scripts/test.sh as root to include it",
        allow_module_level=True,
    )

TIMINGS: dict[str, float] = {}


def documented_steps() -> list[str]:
    text = OPERATIONS.read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "docs/operations.md has no bash block with the compose steps"
    return [
        line.strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def documented_block(name: str) -> str:
    """The bash block after ``<!-- tested: name -->`` in docs/operations.md, to run as written
    (with ``set -euo pipefail``, so a failing step fails it)."""
    text = OPERATIONS.read_text(encoding="utf-8")
    block = re.search(rf"<!-- tested: {name} -->\n```bash\n(.*?)```", text, re.S)
    assert block, f"docs/operations.md has no tested block {name!r}"
    return "set -euo pipefail\n" + block.group(1)


def hkid(n: int) -> str:
    """A valid Hong Kong identity card number, different for every n."""
    for check in "0123456789A":
        candidate = f"G{n:06d}({check})"
        try:
            identity.normalise("hkid", candidate)
        except ValidationError:
            continue
        return candidate
    raise AssertionError(n)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """One compose project in a copy of the repository."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int):
        self.workdir, self.env, self.port = workdir, env, port
        self.url = f"http://127.0.0.1:{port}"

    def sh(self, command: str, *, timeout: float = 600, check: bool = True):
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"`{command}` exited {result.returncode}\n"
                f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
            )
        return result

    def services(self) -> dict[str, dict]:
        out = self.sh("docker compose ps -a --format json").stdout
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        if len(rows) == 1 and isinstance(rows[0], list):
            rows = rows[0]
        return {row["Service"]: row for row in rows}

    def wait_healthy(self, timeout: float = 300) -> dict[str, dict]:
        deadline = time.monotonic() + timeout
        while True:
            services = self.services()
            healthy = {name for name, row in services.items() if row.get("Health") == "healthy"}
            if healthy >= LONG_RUNNING:
                return services
            if time.monotonic() > deadline:
                logs = self.sh("docker compose logs --tail 30", check=False).stdout
                raise AssertionError(f"not healthy after {timeout} s: {services}\n{logs}")
            time.sleep(3)

    def logs(self, service: str) -> str:
        return self.sh(f"docker compose logs --no-log-prefix {service}").stdout

    def down(self) -> None:
        self.sh("docker compose down --volumes --remove-orphans --timeout 30", check=False)


@pytest.fixture(scope="module")
def docker_config() -> str:
    if os.geteuid() != 0:
        pytest.fail("the compose stack test needs root (scripts/compose_engine.sh)")
    started = time.monotonic()
    result = subprocess.run(
        [str(ENGINE)], capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, f"compose_engine.sh failed:\n{result.stderr[-4000:]}"
    TIMINGS["engine and base images"] = time.monotonic() - started
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def stack(docker_config, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("compose") / "welfare-portal"
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            target = workdir / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    assert not (workdir / ".env").exists()
    port = free_port()
    # As a production user's shell: none of the suite's own settings (pyproject's pytest env
    # sets SECRET_KEY, identity keys, ...), which compose would prefer to .env's.
    env = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ
    }
    env |= {
        "DOCKER_CONFIG": docker_config,
        "COMPOSE_PROJECT_NAME": f"wp-compose-test-{os.getpid()}",
        "WEB_PORT": str(port),
        "SITE_URL": f"http://127.0.0.1:{port}",
    }
    stack = Stack(workdir, env, port)
    yield stack
    stack.down()
    stack.sh("docker image rm -f welfare-portal:latest", check=False)
    (Path(docker_config).parent / "last-run.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


@pytest.fixture(scope="module")
def started(stack):
    """The documented steps, run as written; returns what the seed printed."""
    steps = documented_steps()
    assert steps == EXPECTED_STEPS
    outputs = {}
    for step in steps:
        began = time.monotonic()
        outputs[step] = stack.sh(step, timeout=1200).stdout
        TIMINGS[step] = time.monotonic() - began
    began = time.monotonic()
    stack.wait_healthy()
    TIMINGS["until every service is healthy"] = time.monotonic() - began
    return outputs


def client_secret(seed_output: str, client_id: str) -> str:
    match = re.search(rf"^\s*{re.escape(client_id)}\s+(\S+)\s+\(", seed_output, re.M)
    assert match, f"seed_demo printed no secret for {client_id}:\n{seed_output}"
    return match.group(1)


@pytest.fixture(scope="module")
def app(stack, started):
    """The caring team's app: files referrals through the API (the demo client)."""
    seed = started[EXPECTED_STEPS[2]]
    secret = client_secret(seed, "demo-care-team-app")
    http = httpx.Client(base_url=stack.url, timeout=15)
    response = http.post(
        "/o/token/",
        auth=("demo-care-team-app", secret),
        data={"grant_type": "client_credentials", "scope": "referrals:read referrals:write"},
    )
    assert response.status_code == 200, response.text
    http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    yield http
    http.close()


def referral_body(n: int) -> dict:
    return {
        "district": "F",
        "sub_district": "F01",
        "subject_name_zh": f"測試{n}",
        "sex": "female" if n % 2 else "male",
        "age": 70 + n % 25,
        "phone": f"6{1230000 + n:07d}",
        "id_type": "hkid",
        "id_number": hkid(n),
        "household": "elderly_couple",
        "needs": ["child_family"],
        "risk_factors": ["carer_hospitalised"],
        "situation": "Carer admitted to hospital; compose stack test.",
        "consent_basis": "consent",
        "consent_given_by": "subject",
        "consent_method": "verbal",
        "consent_given_at": "2026-11-23T10:00:00+08:00",
    }


def file_referral(http: httpx.Client, n: int, key: str, deadline: float) -> tuple[str, int]:
    """POST until accepted, with the same Idempotency-Key, as a partner system retries.

    Returns the reference and how many attempts failed (503s and dropped connections while a
    container restarts)."""
    failures = 0
    while True:
        try:
            response = http.post(
                "/api/v1/referrals/", json=referral_body(n), headers={"Idempotency-Key": key}
            )
            if response.status_code in (200, 201):
                return response.json()["reference"], failures
            assert response.status_code in (429, 502, 503, 504), (
                f"{response.status_code} {response.text[:500]}"
            )
        except httpx.TransportError:
            pass
        failures += 1
        assert time.monotonic() < deadline, f"referral {n} not accepted after {failures} tries"
        time.sleep(0.5)


def status_of(http: httpx.Client, reference: str) -> str:
    response = http.get(f"/api/v1/referrals/{reference}/")
    assert response.status_code == 200, response.text
    return response.json()["status"]


def wait_routed(http: httpx.Client, references: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(references)
    while pending:
        pending = [ref for ref in pending if status_of(http, ref) == "submitted"]
        if not pending:
            return
        assert time.monotonic() < deadline, f"{len(pending)} referrals never routed: {pending}"
        time.sleep(2)


def under_traffic(stack: Stack, app: httpx.Client, action: str, first: int, phase: str) -> None:
    """File referrals continuously from a second thread while ``action`` runs; then check
    every one was accepted exactly once and routed."""
    sent: list[tuple[int, str]] = []
    results: dict[str, str] = {}
    errors: list[BaseException] = []
    retried = 0
    stop = threading.Event()

    def traffic():
        nonlocal retried
        n = first
        try:
            with httpx.Client(base_url=stack.url, timeout=15, headers=app.headers) as http:
                while not stop.is_set() or len(sent) < 10:
                    key = str(uuid.uuid4())
                    sent.append((n, key))
                    results[key], failures = file_referral(http, n, key, time.monotonic() + 180)
                    retried += failures
                    n += 1
                    time.sleep(0.2)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    time.sleep(3)
    began = time.monotonic()
    stack.sh(action, timeout=300)
    TIMINGS[f"{phase}: `{action}`"] = time.monotonic() - began
    time.sleep(5)
    stop.set()
    thread.join(timeout=240)
    assert not thread.is_alive(), "the traffic thread hung"
    assert not errors, errors
    assert len(sent) >= 10
    assert set(results) == {key for _, key in sent}
    references = list(results.values())
    assert len(set(references)) == len(references), "a retried submission made a second referral"
    began = time.monotonic()
    wait_routed(app, references, timeout=300)
    TIMINGS[f"{phase}: until all {len(references)} routed ({retried} retried tries)"] = (
        time.monotonic() - began
    )
    # Retried submissions answer with their first referral: none filed twice.
    for n, key in sent[:3]:
        again = app.post(
            "/api/v1/referrals/", json=referral_body(n), headers={"Idempotency-Key": key}
        )
        assert again.status_code in (200, 201) and again.json()["reference"] == results[key]


def test_documented_steps_bring_every_service_up_healthy(stack, started):
    services = stack.services()
    assert services["migrate"]["State"] == "exited" and services["migrate"]["ExitCode"] == 0
    for name in LONG_RUNNING:
        assert services[name]["Health"] == "healthy", services[name]
    health = httpx.get(f"{stack.url}/healthz", timeout=10).json()
    assert health["status"] == "ok" and health["degraded"] == [], health
    assert health["checks"]["broker"] == "ok"  # a real broker, not tasks run in-process
    assert "DEBUG is off" in started[EXPECTED_STEPS[2]]
    # Only web is published, and only on the loopback address.
    published = stack.sh("docker compose port web 8000").stdout.strip()
    assert published == f"127.0.0.1:{stack.port}"
    assert stack.sh("docker compose port postgres 5432", check=False).stdout.strip() in ("", ":0")


def test_a_referral_filed_through_web_is_routed_by_the_worker(stack, app):
    reference, _ = file_referral(app, 0, str(uuid.uuid4()), time.monotonic() + 60)
    wait_routed(app, [reference], timeout=120)
    detail = app.get(f"/api/v1/referrals/{reference}/").json()
    assert detail["status"] == "assigned" and detail["unit"], detail


def test_log_lines_are_json_and_carry_the_request_id_into_the_worker(stack, app):
    request_id = uuid.uuid4().hex
    response = app.post(
        "/api/v1/referrals/",
        json=referral_body(7),
        headers={"Idempotency-Key": str(uuid.uuid4()), "X-Request-ID": request_id},
    )
    assert response.status_code == 201, response.text
    assert response.headers["X-Request-ID"] == request_id
    wait_routed(app, [response.json()["reference"]], timeout=120)
    deadline = time.monotonic() + 60
    while True:
        worker = stack.logs("worker")
        lines = [json.loads(line) for line in re.findall(r"^.*?(\{.*\})\s*$", worker, re.M)]
        mine = [line for line in lines if line["request_id"] == request_id]
        if any("succeeded" in line["message"] for line in mine):
            break
        assert time.monotonic() < deadline, f"no worker line with {request_id}:\n{worker[-3000:]}"
        time.sleep(2)
    assert all(line["task_id"] and line["task_name"] for line in mine), mine
    assert {"timestamp", "level", "logger", "message"} <= set(mine[0])
    # Nothing personal in any process's log: not the phone number, not the name.
    everything = stack.sh("docker compose logs --no-log-prefix").stdout
    assert referral_body(7)["phone"] not in everything
    assert referral_body(7)["subject_name_zh"] not in everything
    assert json.dumps(referral_body(7)["subject_name_zh"]).strip('"') not in everything


def test_beat_sends_the_sweeps_and_the_worker_runs_them(stack, started):
    deadline = time.monotonic() + 150
    while True:
        beat, worker = stack.logs("beat"), stack.logs("worker")
        sent = "Sending due task sweep-unrouted" in beat
        ran = re.search(r"referrals\.tasks\.sweep_unrouted\[[^\]]+\] succeeded", worker)
        if sent and ran:
            break
        assert time.monotonic() < deadline, f"no sweep ran:\nbeat:\n{beat[-2000:]}"
        time.sleep(5)


def test_worker_restart_under_traffic_loses_nothing(stack, app):
    under_traffic(stack, app, "docker compose restart worker", 1000, "worker restart")


def test_database_restart_under_traffic_loses_nothing(stack, app):
    under_traffic(stack, app, "docker compose restart postgres", 2000, "database restart")
    health = httpx.get(f"{stack.url}/healthz", timeout=10).json()
    assert health["checks"]["database"] == "ok", health


def count_referrals(stack: Stack, database: str) -> int:
    sql = "SELECT count(*) FROM referrals_referral"
    return int(
        stack.sh(
            f"docker compose exec -T postgres psql -U welfare -d {database} -tAc '{sql}'"
        ).stdout.strip()
    )


def test_the_stacks_database_runs_autovacuum(stack):
    """The README says production needs autovacuum on (the development machines run with
    it off; bench/ vacuums for itself): the stack's PostgreSQL keeps it on."""
    answer = stack.sh(
        "docker compose exec -T postgres psql -U welfare -d welfare -tAc 'SHOW autovacuum'"
    )
    assert answer.stdout.strip() == "on"


def check_identities(stack: Stack, keys: str, database: str = "welfare"):
    """``reencrypt_identities --check`` in the web container with other keys than .env's."""
    return stack.sh(
        f"docker compose exec -T -e IDENTITY_ENCRYPTION_KEYS={keys} web sh -c "
        f'\'DATABASE_URL="${{DATABASE_URL%/*}}/{database}" '
        "python manage.py reencrypt_identities --check'",
        check=False,
    )


def env_value(stack: Stack, name: str) -> str:
    text = (stack.workdir / ".env").read_text()
    return re.search(rf"^{name}=(.*)$", text, re.M).group(1)


def test_documented_backup_restores_with_every_number_readable(stack):
    live = count_referrals(stack, "welfare")
    assert live > 50  # the referrals filed above, each with an identity number
    began = time.monotonic()
    tables = stack.sh(documented_block("backup")).stdout.split()[-1]
    assert int(tables) > 20
    restored = stack.sh(documented_block("restore")).stdout
    TIMINGS["backup and restore (documented blocks)"] = time.monotonic() - began
    assert str(live) in restored.split()
    assert f"Checked {live:,} identity numbers: {live:,} under the first key, 0 not yet, " in (
        restored
    ), restored
    assert count_referrals(stack, "welfare_restore") == live
    # Meaningful: under a key that never encrypted them, none of the restored numbers reads.
    other = Fernet.generate_key().decode()
    wrong = check_identities(stack, other, "welfare_restore")
    assert wrong.returncode != 0 and "could not be decrypted" in wrong.stderr, wrong


def test_documented_restore_goes_into_service(stack, app):
    restored = count_referrals(stack, "welfare_restore")
    began = time.monotonic()
    stack.sh(documented_block("into-service"), timeout=600)
    TIMINGS["restored database into service (documented block)"] = time.monotonic() - began
    assert count_referrals(stack, "welfare") == restored
    assert count_referrals(stack, "welfare_before_restore") == restored
    health = httpx.get(f"{stack.url}/healthz", timeout=10).json()
    assert health["status"] == "ok", health
    reference, _ = file_referral(app, 4000, str(uuid.uuid4()), time.monotonic() + 60)
    wait_routed(app, [reference], timeout=120)
    assert count_referrals(stack, "welfare") == restored + 1


def test_documented_key_rotation_keeps_every_number_readable(stack, app):
    old_key = env_value(stack, "IDENTITY_ENCRYPTION_KEYS")
    live = count_referrals(stack, "welfare")
    began = time.monotonic()
    output = stack.sh(documented_block("rotate"), timeout=900).stdout
    TIMINGS["key rotation (documented block, two recreations)"] = time.monotonic() - began
    new_key = env_value(stack, "IDENTITY_ENCRYPTION_KEYS")
    assert "," not in new_key and new_key != old_key
    assert f"Examined {live:,} identity numbers: {live:,} re-encrypted" in output, output
    assert output.count("Every identity number is encrypted under the first key") == 2
    # The old key alone reads none of them any more: they really were re-encrypted.
    stale = check_identities(stack, old_key)
    assert stale.returncode != 0 and "could not be decrypted" in stale.stderr, stale
    # The portal goes on under the new key alone: a new referral is filed and routed.
    reference, _ = file_referral(app, 5000, str(uuid.uuid4()), time.monotonic() + 60)
    wait_routed(app, [reference], timeout=120)


def test_torn_down_leaves_nothing(stack):
    stack.down()
    project = stack.env["COMPOSE_PROJECT_NAME"]
    containers = stack.sh(f"docker ps -a -q --filter label=com.docker.compose.project={project}")
    volumes = stack.sh(f"docker volume ls -q --filter label=com.docker.compose.project={project}")
    networks = stack.sh(f"docker network ls -q --filter label=com.docker.compose.project={project}")
    assert containers.stdout.strip() == volumes.stdout.strip() == networks.stdout.strip() == ""
