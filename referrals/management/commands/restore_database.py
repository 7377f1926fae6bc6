"""Restore a ``backup_database`` file into a new database and check it (issue 15).

The new database is made on the server Django's own connection points at (from
``template0``, so nothing in ``template1`` can clash), or an existing one is used if it is
empty; anything else is refused, so a restore never writes over data. ``pg_restore --no-owner
--exit-on-error --single-transaction`` loads it (all or nothing); then the restored database
is read directly: its referral count, and every stored identity number decrypted with the
keys configured now (``referrals.identity.decrypt``), which is what proves the backup usable.
Nothing of a number is printed: counts and referral references only.
"""

import re
from pathlib import Path

import psycopg
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import sql

from referrals.identity import decrypt
from referrals.management.commands.backup_database import (
    connect_kwargs,
    find_tool,
    libpq_environment,
    require_postgresql,
    run_tool,
)
from referrals.management.commands.reencrypt_identities import label
from referrals.models import Referral

# A plain identifier: no quoting surprises, and pg_restore --dbname cannot take it for a
# connection string.
DATABASE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_USER_RELATIONS = """
    SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
"""
_TABLES = """
    SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
"""


def database_exists(settings_dict: dict, name: str) -> bool:
    with psycopg.connect(**connect_kwargs(settings_dict, dbname=settings_dict["NAME"])) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


def is_empty(settings_dict: dict, name: str) -> bool:
    """True if database ``name`` holds no table, view, sequence or index of its own."""
    with psycopg.connect(**connect_kwargs(settings_dict, dbname=name)) as conn:
        return conn.execute(_USER_RELATIONS).fetchone()[0] == 0


def create_database(settings_dict: dict, name: str) -> None:
    kwargs = connect_kwargs(settings_dict, dbname=settings_dict["NAME"])
    with psycopg.connect(**kwargs, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(settings_dict: dict, name: str) -> None:
    kwargs = connect_kwargs(settings_dict, dbname=settings_dict["NAME"])
    with psycopg.connect(**kwargs, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def verify(settings_dict: dict, name: str) -> dict:
    """What the restored database holds: tables, referrals, identity numbers, and the
    references of those that do not decrypt with the current keys."""
    table = sql.Identifier(Referral._meta.db_table)
    with psycopg.connect(**connect_kwargs(settings_dict, dbname=name)) as conn:
        tables = conn.execute(_TABLES).fetchone()[0]
        if conn.execute("SELECT to_regclass(%s)", [Referral._meta.db_table]).fetchone()[0] is None:
            raise CommandError(
                f"The restored database {name} has no {Referral._meta.db_table} table: this is "
                "not a backup of Welfare Portal."
            )
        referrals = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]
        decrypted, failed = 0, []
        with conn.cursor(name="restore_verify") as cursor:  # server-side: a row at a time
            cursor.execute(
                sql.SQL(
                    "SELECT id, reference, id_number_encrypted FROM {} "
                    "WHERE id_number_encrypted <> '' ORDER BY id"
                ).format(table)
            )
            for pk, reference, token in cursor:
                try:
                    decrypt(token)
                except ValueError:
                    failed.append(label(pk, reference))
                else:
                    decrypted += 1
    return {"tables": tables, "referrals": referrals, "decrypted": decrypted, "failed": failed}


class Command(BaseCommand):
    help = (
        "Restore a backup_database file into a new (or empty) database on the same server "
        "with pg_restore --no-owner --exit-on-error, then check it: its referral count, and "
        "that every identity number decrypts with the current IDENTITY_ENCRYPTION_KEYS "
        "(non-zero exit if any does not)."
    )

    def add_arguments(self, parser):
        parser.add_argument("input", metavar="INPUT", help="A file written by backup_database.")
        parser.add_argument(
            "--target-database",
            required=True,
            metavar="NAME",
            help="The database to restore into: created, or used only if it exists and is empty.",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="The Django database alias whose server is used (default: %(default)s).",
        )

    def handle(self, *args, input: str, target_database: str, database: str, **options):
        settings_dict = require_postgresql(connections[database])
        pg_restore = find_tool("pg_restore")
        source, target = Path(input), target_database
        if not source.is_file():
            raise CommandError(f"{source} is not a file.")
        if not DATABASE_NAME.fullmatch(target):
            raise CommandError(
                "--target-database must be a plain name: letters, digits and _, at most 63, "
                "not starting with a digit."
            )
        if target == settings_dict["NAME"]:
            raise CommandError(f"{target} is the database in use; restore into a new one.")
        created = self._prepare(settings_dict, target)
        try:
            run_tool(
                [pg_restore, "--no-owner", "--exit-on-error", "--single-transaction",
                 "--no-password", f"--dbname={target}", str(source)],
                env=libpq_environment(settings_dict, dbname=target),
                what="pg_restore",
            )  # fmt: skip
        except CommandError:
            if created:
                drop_database(settings_dict, target)
            raise
        self._report(target, verify(settings_dict, target))

    def _prepare(self, settings_dict: dict, target: str) -> bool:
        """Create ``target`` (True), or accept it if it exists and is empty (False)."""
        if not database_exists(settings_dict, target):
            create_database(settings_dict, target)
            return True
        if not is_empty(settings_dict, target):
            raise CommandError(
                f"Database {target} already exists and is not empty: refusing to restore "
                "over it. Choose a new name (or drop it first, if it really is expendable)."
            )
        return False

    def _report(self, target: str, found: dict) -> None:
        failed = found["failed"]
        total = found["decrypted"] + len(failed)
        self.stdout.write(
            f"Restored into database {target}: {found['tables']} tables, "
            f"{found['referrals']:,} referrals, {total:,} identity numbers."
        )
        if failed:
            for name in failed:
                self.stderr.write(f"  does not decrypt: {name}")
            raise CommandError(
                f"{len(failed):,} of {total:,} identity numbers in {target} do not decrypt with "
                "the current IDENTITY_ENCRYPTION_KEYS (referrals listed above): restore the "
                "keys that were in force when the backup was taken, from the secrets backup. "
                f"Database {target} is left as restored, for inspection."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"All {total:,} identity numbers decrypt with the current keys. "
                f"Database {target} is ready."
            )
        )
