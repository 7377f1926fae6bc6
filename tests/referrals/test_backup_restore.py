"""Backups and restore of PostgreSQL (issue 15): ``backup_database`` dumps the database the
portal uses, ``restore_database`` loads the dump into a new database on the same server and
proves it usable (the referrals are there, every identity number decrypts with the keys).

The dump and restore tests need PostgreSQL and its client tools (pg_dump, pg_restore); they
are skipped on SQLite. They are transactional: pg_dump is another connection, so the test's
rows must be committed to be in the dump. Every database a test creates is dropped after it.
"""

import io
import os
import stat
import uuid

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.utils import ConnectionHandler
from psycopg import sql

from referrals import identity
from referrals.management.commands.backup_database import (
    connect_kwargs,
    libpq_values,
    require_postgresql,
)
from referrals.models import Referral
from tests import factories

NUMBERS = {"hkid": ["A1234563", "AB9876543"], "twid": ["F234567898"]}

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="pg_dump and pg_restore back up PostgreSQL only; this run uses SQLite",
)


def pg_database(test):
    """PostgreSQL only, and committed: pg_dump reads through a connection of its own."""
    test = pytest.mark.django_db(transaction=True, serialized_rollback=True)(test)
    return needs_postgresql(test)


def server() -> dict:
    """The settings of the connection the test uses (pytest-django's ``test_…`` database)."""
    return connection.settings_dict


def command(name: str, *args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def maintenance(sql_text) -> None:
    kwargs = connect_kwargs(server(), dbname=server()["NAME"])
    with psycopg.connect(**kwargs, autocommit=True) as conn:
        conn.execute(sql_text)


def database_exists(name: str) -> bool:
    with psycopg.connect(**connect_kwargs(server(), dbname=server()["NAME"])) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


@pytest.fixture
def new_database():
    """A database name nobody uses (``<portal database>_restore_<random>``), dropped after."""
    base = server()["NAME"].removeprefix("test_")
    name = f"{base[:40]}_restore_{uuid.uuid4().hex[:8]}"
    yield name
    maintenance(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def referrals(db):
    """Three referrals with identity numbers, one without, committed."""
    made = {}
    for id_type, numbers in NUMBERS.items():
        for number in numbers:
            protected = identity.protect(id_type, number)
            referral = factories.ReferralFactory(
                id_type=protected.id_type,
                id_number_encrypted=protected.ciphertext,
                id_number_hash=protected.digest,
                id_number_masked=protected.masked,
            )
            made[referral.reference] = number
    factories.ReferralFactory()
    return made


@pytest.fixture
def backup(tmp_path, referrals) -> str:
    path = str(tmp_path / "welfare.dump")
    command("backup_database", path)
    return path


def restored_rows(name: str) -> tuple[int, dict[str, str]]:
    """Straight from the restored database: the referral count and {reference: token}."""
    with psycopg.connect(**connect_kwargs(server(), dbname=name)) as conn:
        count = conn.execute("SELECT count(*) FROM referrals_referral").fetchone()[0]
        rows = conn.execute(
            "SELECT reference, id_number_encrypted FROM referrals_referral "
            "WHERE id_number_encrypted <> ''"
        ).fetchall()
    return count, dict(rows)


# --- Backup and restore, end to end ------------------------------------------------------


@pg_database
def test_backup_then_restore_into_a_new_database(tmp_path, referrals, new_database):
    path = tmp_path / "welfare.dump"
    out, _err = command("backup_database", str(path))
    assert f"Backed up database {server()['NAME']} to {path}" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds every referral
    assert not [p for p in tmp_path.iterdir() if p.name != path.name]  # no partial left

    out, err = command("restore_database", str(path), "--target-database", new_database)

    assert f"Restored into database {new_database}:" in out
    assert f"{Referral.objects.count()} referrals, 3 identity numbers." in out
    assert "All 3 identity numbers decrypt with the current keys." in out
    assert not err
    count, tokens = restored_rows(new_database)
    assert count == Referral.objects.count() == 4
    assert {reference: identity.decrypt(token) for reference, token in tokens.items()} == referrals
    for number in referrals.values():
        assert number not in out


@pg_database
def test_a_restore_under_other_keys_fails_its_check(settings, backup, referrals, new_database):
    """The check is meaningful: with keys other than the backup's, every number fails."""
    settings.IDENTITY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    err_stream = io.StringIO()
    with pytest.raises(CommandError, match="^3 of 3 identity numbers in .* do not decrypt"):
        call_command(
            "restore_database",
            backup,
            "--target-database",
            new_database,
            stdout=io.StringIO(),
            stderr=err_stream,
        )
    assert sorted(err_stream.getvalue().splitlines()) == sorted(
        f"  does not decrypt: {reference}" for reference in referrals
    )
    assert database_exists(new_database)  # kept for inspection
    _count, tokens = restored_rows(new_database)
    for token in tokens.values():
        with pytest.raises(ValueError):
            identity.decrypt(token)


@pg_database
def test_restore_refuses_a_database_that_is_not_empty(backup, new_database):
    maintenance(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(new_database)))
    with psycopg.connect(**connect_kwargs(server(), dbname=new_database)) as conn:
        conn.execute("CREATE TABLE keep_me (note text)")
        conn.execute("INSERT INTO keep_me VALUES ('precious')")

    with pytest.raises(CommandError, match="already exists and is not empty: refusing"):
        command("restore_database", backup, "--target-database", new_database)

    with psycopg.connect(**connect_kwargs(server(), dbname=new_database)) as conn:
        assert conn.execute("SELECT note FROM keep_me").fetchall() == [("precious",)]
        assert conn.execute("SELECT to_regclass('referrals_referral')").fetchone() == (None,)


@pg_database
def test_restore_uses_an_existing_empty_database(backup, new_database):
    maintenance(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(new_database)))
    out, _err = command("restore_database", backup, "--target-database", new_database)
    assert "All 3 identity numbers decrypt" in out
    assert restored_rows(new_database)[0] == 4


@pg_database
def test_a_damaged_backup_fails_and_leaves_no_database(tmp_path, backup, new_database):
    damaged = tmp_path / "damaged.dump"
    with open(backup, "rb") as whole:
        damaged.write_bytes(whole.read()[:4000])  # cut short, as by a full disk
    with pytest.raises(CommandError, match="^pg_restore failed"):
        command("restore_database", str(damaged), "--target-database", new_database)
    assert not database_exists(new_database)


# --- Refusals -----------------------------------------------------------------------------


@pg_database
def test_backup_refuses_to_overwrite_a_file_unless_forced(tmp_path, referrals):
    path = tmp_path / "welfare.dump"
    path.write_text("last night's backup")
    path.chmod(0o644)
    with pytest.raises(CommandError, match="already exists; pass --force to overwrite it"):
        command("backup_database", str(path))
    assert path.read_text() == "last night's backup"

    out, _err = command("backup_database", str(path), "--force")
    assert path.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    tables = int(out.split(" tables.")[0].rsplit(" ", 1)[1])
    assert tables == len(connection.introspection.table_names())


@needs_postgresql
@pytest.mark.django_db
def test_restore_refuses_the_database_in_use_and_odd_names(tmp_path):
    path = tmp_path / "welfare.dump"
    path.write_bytes(b"PGDMP")
    with pytest.raises(CommandError, match="is the database in use"):
        command("restore_database", str(path), "--target-database", server()["NAME"])
    for name in ("host=elsewhere dbname=x", "1st", "a-b", "x" * 64):
        with pytest.raises(CommandError, match="must be a plain name"):
            command("restore_database", str(path), "--target-database", name)
    with pytest.raises(CommandError, match="is not a file"):
        command("restore_database", str(tmp_path), "--target-database", "wp_keys_never")


@pg_database
def test_the_password_reaches_pg_dump_through_the_environment(tmp_path, monkeypatch, referrals):
    """A stand-in pg_dump on PATH writes down its arguments and PGPASSWORD, then runs the
    real one (the test server trusts local connections, so the password is not checked)."""
    import shutil

    real = shutil.which("pg_dump")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "seen"
    fake = bin_dir / "pg_dump"
    fake.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {seen}.args\nprintf "%s" "$PGPASSWORD" > {seen}.env\n'
        f'exec {real} "$@"\n'
    )
    fake.chmod(0o700)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", "s3cret-not-on-the-command-line")

    command("backup_database", str(tmp_path / "welfare.dump"))

    arguments = (tmp_path / "seen.args").read_text()
    assert (tmp_path / "seen.env").read_text() == "s3cret-not-on-the-command-line"
    assert "s3cret" not in arguments
    assert server()["NAME"] not in arguments and "--format=custom" in arguments


def test_the_commands_refuse_sqlite(tmp_path):
    sqlite = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3"}})["default"]
    with pytest.raises(CommandError, match="works with PostgreSQL only.*sqlite"):
        require_postgresql(sqlite)
    if connection.vendor == "sqlite":  # the suite's own database: the commands themselves
        for name, args in [
            ("backup_database", [str(tmp_path / "x.dump")]),
            ("restore_database", [str(tmp_path / "x.dump"), "--target-database", "x"]),
        ]:
            with pytest.raises(CommandError, match="works with PostgreSQL only"):
                command(name, *args)
        assert not (tmp_path / "x.dump").exists()


def test_libpq_environment_carries_the_connection():
    values = libpq_values(
        {
            "NAME": "welfare",
            "USER": "welfare",
            "PASSWORD": "pw",
            "HOST": "postgres",
            "PORT": 5432,
            "OPTIONS": {"sslmode": "require", "connect_timeout": 5, "pool": True},
        },
        dbname="welfare_restore",
    )
    assert values == {
        "PGHOST": "postgres",
        "PGPORT": "5432",
        "PGUSER": "welfare",
        "PGPASSWORD": "pw",
        "PGDATABASE": "welfare_restore",
        "PGSSLMODE": "require",
        "PGCONNECT_TIMEOUT": "5",
    }
