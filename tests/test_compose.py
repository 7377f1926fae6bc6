"""Static checks of the production-shaped stack (docker-compose.yml + Dockerfile).

These parse the files and check them against the code they point at, in seconds and without
root: the WSGI and Celery entry points must import, the app services must reach the compose
services by name, and every long-running service must carry a health check.
tests/test_compose_stack.py starts the stack for real.
"""

import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from django.urls import resolve

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"

REQUIRED_SERVICES = {"postgres", "redis", "web", "worker", "deliveries-worker", "beat"}
APP_SERVICES = ("web", "worker", "deliveries-worker", "beat")
WORKERS = ("worker", "deliveries-worker")
FALSE_VALUES = {"false", "0", "off", "no", "n", "f"}


@pytest.fixture(scope="module")
def compose():
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


# --- helpers -----------------------------------------------------------------------

_VAR = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>\w+)")


def interpolate(value, env=None):
    """Resolve compose ``${VAR}``, ``${VAR:-default}``, ``${VAR:?err}`` and ``$$``.

    ``env`` stands in for the shell/.env; required variables missing from it raise.
    """
    env = env or {}

    def replace(match):
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"]
        current = env.get(name)
        if op in (":-", "-"):
            if current is None or (op == ":-" and current == ""):
                return arg
            return current
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise LookupError(f"{name} is required: {arg}")
            return current
        return current or ""

    parts = str(value).split("$$")
    return "$".join(_VAR.sub(replace, part) for part in parts)


def argv(command):
    """A service ``command``/``entrypoint`` (list or string) as a list of strings."""
    assert command, "command is missing"
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command]


def environment(service):
    """The service's environment as a dict, whether written as a mapping or a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: ("" if value is None else str(value)) for key, value in env.items()}


def resolved_env(service, **shell):
    shell.setdefault("SECRET_KEY", "x" * 50)
    shell.setdefault("IDENTITY_ENCRYPTION_KEYS", "ayQgr1SWnJmAcMCHN96-QszxKGf0r2H2mmDaAtXFmQE=")
    shell.setdefault("IDENTITY_HASH_KEY", "h" * 48)
    return {key: interpolate(value, shell) for key, value in environment(service).items()}


def healthcheck_command(service):
    """The health check as the container runs it (after compose interpolation)."""
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return shlex.split(interpolate(test))
    kind, *rest = test
    if kind == "CMD-SHELL":
        assert len(rest) == 1, "CMD-SHELL takes exactly one shell string"
        return shlex.split(interpolate(rest[0]))
    assert kind == "CMD", f"unexpected healthcheck form {kind!r}"
    return [interpolate(part) for part in rest]


def option_value(args, *names):
    """The value following the first of ``names`` in ``args`` (or ``--name=value``)."""
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def final_stage(dockerfile: Path):
    """Instructions of the last build stage as (INSTRUCTION, arguments) pairs."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            instructions = []
        instructions.append((keyword, rest.strip()))
    return instructions


def exec_form(arguments: str):
    arguments = arguments.strip()
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


# --- services ----------------------------------------------------------------------


def test_required_services_exist(services):
    missing = REQUIRED_SERVICES - set(services)
    assert not missing, f"docker-compose.yml lacks services: {sorted(missing)}"


def test_long_running_services_have_healthchecks(services):
    long_running = {
        name
        for name, service in services.items()
        if str(service.get("restart", "no")) != "no" or name in REQUIRED_SERVICES
    }
    assert long_running >= REQUIRED_SERVICES
    for name in sorted(long_running):
        healthcheck = services[name].get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"
        command = healthcheck_command(services[name])
        assert command and command[0], f"{name} healthcheck has no command"
        assert healthcheck.get("timeout"), f"{name} healthcheck has no timeout"


def test_app_services_depend_on_healthy_postgres_and_redis(services):
    for name in APP_SERVICES:
        depends_on = services[name].get("depends_on")
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions (mapping form)"
        for dependency in ("postgres", "redis"):
            assert dependency in depends_on, f"{name} does not depend on {dependency}"
            condition = (depends_on[dependency] or {}).get("condition")
            assert condition == "service_healthy", f"{name} -> {dependency}: {condition!r}"


def test_migrations_run_before_web(services):
    assert "migrate" in services, "a one-shot migrate service must run migrations before web"
    migrate = services["migrate"]
    assert argv(migrate["command"])[-3:] == ["manage.py", "migrate", "--noinput"]
    assert str(migrate.get("restart", "no")) == "no", "a one-shot service must not restart"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "migrate" in services["web"]["depends_on"], "web may start before migrations ran"
    condition = services["web"]["depends_on"]["migrate"]["condition"]
    assert condition == "service_completed_successfully"


# --- entry points ------------------------------------------------------------------


def test_web_runs_gunicorn_on_the_importable_wsgi_app(services):
    web = services["web"]
    args = argv(web["command"])
    assert Path(args[0]).name == "gunicorn", args
    # gunicorn's APP_MODULE argument: "dotted.module:attribute" (not e.g. "0.0.0.0:8000").
    targets = [arg for arg in args[1:] if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", arg)]
    assert targets == ["welfare_portal.wsgi:application"], args
    bind = option_value(args, "--bind", "-b")
    assert bind == "0.0.0.0:8000", f"gunicorn must listen on all interfaces: {bind!r}"

    module_name, attribute = targets[0].split(":")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute, None)), f"{targets[0]} is not a WSGI callable"

    # Published on the loopback address only, port 8000 unless WEB_PORT says otherwise.
    published = [interpolate(port) for port in web.get("ports", [])]
    assert published == ["127.0.0.1:8000:8000"], published
    moved = [interpolate(port, {"WEB_PORT": "8080"}) for port in web.get("ports", [])]
    assert moved == ["127.0.0.1:8080:8000"], moved


def test_web_healthcheck_calls_healthz_with_python(services):
    web = services["web"]
    command = healthcheck_command(web)
    assert Path(command[0]).name.startswith("python"), "slim images have no curl/wget"
    script = " ".join(command)
    match = re.search(r"http://(?P<host>[\w.\-]+):(?P<port>\d+)(?P<path>/\S*?)[\"']", script)
    assert match, f"no URL in the web healthcheck: {script}"
    assert "urllib" in script
    assert match["port"] == "8000"
    assert resolve(match["path"]).url_name == "healthz"

    env = resolved_env(web)
    allowed_hosts = environ.Env.parse_value(env["ALLOWED_HOSTS"], list)
    assert match["host"] in allowed_hosts, "the healthcheck's Host header would get a 400"
    redirect = environ.Env.parse_value(env.get("SECURE_SSL_REDIRECT", "true"), bool)
    assert not redirect or "^healthz$" in _settings_redirect_exempt()


def _settings_redirect_exempt():
    from django.conf import settings

    return settings.SECURE_REDIRECT_EXEMPT


@pytest.mark.parametrize(
    ("name", "subcommand"),
    [("worker", "worker"), ("deliveries-worker", "worker"), ("beat", "beat")],
)
def test_celery_services_name_the_project_app(services, name, subcommand):
    args = argv(services[name]["command"])
    assert Path(args[0]).name == "celery", args
    assert option_value(args, "-A", "--app") == "welfare_portal", args
    assert subcommand in args, args

    module = importlib.import_module("welfare_portal.celery")
    assert isinstance(module.app, Celery)
    # What `celery -A welfare_portal` actually loads.
    assert find_app("welfare_portal") is module.app


def node_name(args) -> str:
    """The worker's node name before "@" (``-n deliveries@%h``); Celery's default is celery."""
    return (option_value(args, "-n", "--hostname") or "celery@%h").split("@", 1)[0]


def test_worker_and_beat_healthchecks_ping_their_own_node(services):
    for name in WORKERS:
        worker = healthcheck_command(services[name])
        assert option_value(worker, "-A", "--app") == "welfare_portal"
        assert worker[worker.index("inspect") + 1] == "ping"
        # "$HOSTNAME" survives only if compose got "$$HOSTNAME"; a single "$" would be
        # interpolated from the host's environment instead of the container's.
        node = node_name(argv(services[name]["command"]))
        assert option_value(worker, "-d", "--destination") == f"{node}@$HOSTNAME", name
        assert option_value(worker, "-t", "--timeout"), "inspect ping needs a timeout"
    # Each worker answers for itself: a stalled deliveries worker is not hidden by the other.
    nodes = [node_name(argv(services[name]["command"])) for name in WORKERS]
    assert len(set(nodes)) == len(nodes), nodes

    beat_args = argv(services["beat"]["command"])
    beat = healthcheck_command(services["beat"])
    if "--enable-remote-control" in beat_args:
        assert beat[beat.index("inspect") + 1] == "ping"
        assert option_value(beat, "-d", "--destination") == "celerybeat@$HOSTNAME"
        assert option_value(beat, "-t", "--timeout")
    else:
        script = " ".join(beat)
        assert "/proc" in script or "celerybeat-schedule" in script, script


def declared_queues() -> set[str]:
    """Every queue a follow-up job is declared with (referrals/outbox.py)."""
    import referrals.tasks  # noqa: F401 - importing the tasks declares every job
    from referrals import outbox

    jobs = {job.queue for job in outbox._JOBS.values()}
    assert outbox.DELIVERIES_QUEUE in jobs, "no job on the deliveries queue: were they imported?"
    return {outbox.DEFAULT_QUEUE, outbox.DELIVERIES_QUEUE} | jobs


def consumed_queues(args) -> set[str]:
    """The queues a ``celery worker`` command consumes (``-Q a,b``; Celery's default)."""
    return set((option_value(args, "-Q", "--queues") or "celery").split(","))


def test_every_queue_is_consumed_by_a_worker_service(services):
    workers = {
        name: consumed_queues(argv(service["command"]))
        for name, service in services.items()
        if "worker" in argv(service.get("command") or ["-"])
    }
    assert set(workers) == set(WORKERS), workers
    consumed = set().union(*workers.values())
    assert declared_queues() <= consumed, (
        f"queues no worker consumes: {declared_queues() - consumed}"
    )
    # Deliveries (a partner's endpoint may hang) have a worker of their own.
    assert workers["deliveries-worker"] == {"deliveries"}
    assert "deliveries" not in workers["worker"]


def test_the_benches_worker_consumes_every_queue_too():
    """bench/load.py, bench/faults.py and tests/integration run one worker for all of it."""
    from bench.harness import worker_command

    args = worker_command("bench", concurrency=1)
    assert option_value(args, "-A", "--app") == "welfare_portal"
    assert declared_queues() <= consumed_queues(args)
    only_deliveries = worker_command("bench", concurrency=1, queues="deliveries")
    assert consumed_queues(only_deliveries) == {"deliveries"}


# --- shared environment ------------------------------------------------------------


def test_app_services_share_database_and_redis_urls(services):
    postgres_env = resolved_env(services["postgres"])
    envs = {name: resolved_env(services[name]) for name in APP_SERVICES}
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG"):
        values = {name: env.get(key) for name, env in envs.items()}
        assert len(set(values.values())) == 1, f"{key} differs between services: {values}"

    database = urlsplit(envs["web"]["DATABASE_URL"])
    assert database.scheme in {"postgres", "postgresql"}
    assert database.hostname == "postgres" and database.hostname in services
    assert (database.port or 5432) == 5432
    assert database.username == postgres_env["POSTGRES_USER"]
    assert database.password == postgres_env["POSTGRES_PASSWORD"]
    assert database.path.lstrip("/") == postgres_env["POSTGRES_DB"]
    # The same password override reaches both sides.
    overridden = resolved_env(services["web"], POSTGRES_PASSWORD="s3cret")
    assert urlsplit(overridden["DATABASE_URL"]).password == "s3cret"
    overridden_db = resolved_env(services["postgres"], POSTGRES_PASSWORD="s3cret")
    assert overridden_db["POSTGRES_PASSWORD"] == "s3cret"

    redis_url = urlsplit(envs["web"]["REDIS_URL"])
    assert redis_url.scheme == "redis"
    assert redis_url.hostname == "redis" and redis_url.hostname in services
    assert (redis_url.port or 6379) == 6379


def test_debug_is_off_and_the_secrets_are_required(services):
    for name in APP_SERVICES:
        raw = environment(services[name])
        assert raw["DEBUG"].strip().lower() in FALSE_VALUES, f"{name}: DEBUG={raw['DEBUG']!r}"
        assert environ.Env.parse_value(interpolate(raw["DEBUG"]), bool) is False
        # No baked-in default: `docker compose up` must refuse to start without it.
        for secret in ("SECRET_KEY", "IDENTITY_ENCRYPTION_KEYS", "IDENTITY_HASH_KEY"):
            assert re.fullmatch(rf"\$\{{{secret}:\?[^}}]+\}}", raw[secret]), raw[secret]
            with pytest.raises(LookupError):
                interpolate(raw[secret], {})
        assert "localhost" in resolved_env(services[name])["ALLOWED_HOSTS"].split(",")


# --- image -------------------------------------------------------------------------


def test_build_context_has_a_dockerfile_that_serves_gunicorn(services):
    built = {name: service["build"] for name, service in services.items() if "build" in service}
    assert set(APP_SERVICES) <= set(built), f"app services without build: {sorted(built)}"
    for name, build in built.items():
        if isinstance(build, str):
            build = {"context": build}
        context = (COMPOSE_FILE.parent / build.get("context", ".")).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"

        stage = final_stage(dockerfile)
        assert stage[0][0] == "FROM" and stage[0][1].split()[0] == "python:3.11-slim"
        launch = [exec_form(args) for keyword, args in stage if keyword in {"CMD", "ENTRYPOINT"}]
        assert launch, f"{dockerfile} has no CMD/ENTRYPOINT in its final stage"
        flat = [part for command in launch for part in command]
        assert any(Path(part).name == "gunicorn" for part in flat), launch
        assert "welfare_portal.wsgi:application" in flat, launch

        users = [args for keyword, args in stage if keyword == "USER"]
        assert users and users[-1].split(":")[0] not in {"root", "0"}, "image runs as root"
        assert any(keyword == "EXPOSE" and "8000" in args.split() for keyword, args in stage)


def test_dockerignore_keeps_local_state_and_secrets_out():
    patterns = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", ".git", ".env", "db.sqlite3", "staticfiles", "__pycache__"):
        assert required in patterns, f".dockerignore does not exclude {required}"


# --- The build's collectstatic step, run as the Dockerfile writes it (issue 15) -------------


def dockerfile_collectstatic_step() -> tuple[dict[str, str], list[str]]:
    """The environment and command of the Dockerfile's ``RUN … collectstatic`` step, with
    its ``ARG`` defaults filled in, as ``docker build`` would run it."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.M))
    lines = text.splitlines()
    [run] = [line for line in lines if line.startswith("RUN") and "collectstatic" in line]
    step = run.removeprefix("RUN").split("&&")[0].split()
    env, command = {}, []
    for word in step:
        name, sep, value = word.partition("=")
        if sep and not command and name.isupper():
            env[name] = re.sub(r"\$(\w+)", lambda m: args[m[1]], value.strip('"'))
        else:
            command.append(word)
    return env, command


def test_the_dockerfiles_collectstatic_step_runs_as_written(tmp_path):
    """The step once set only SECRET_KEY and ALLOWED_HOSTS, and production settings refused
    to load without the identity keys: ``docker compose up --build`` could not build."""
    env, command = dockerfile_collectstatic_step()
    assert command[:3] == ["python", "manage.py", "collectstatic"]
    keep = {"PATH", "HOME", "LANG"}
    clean = {key: value for key, value in os.environ.items() if key in keep}
    result = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=ROOT,
        env={**clean, **env, "STATIC_ROOT": str(tmp_path / "static")},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "static" / "staticfiles.json").exists()
