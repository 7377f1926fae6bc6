"""Back the PostgreSQL database up with ``pg_dump --format=custom`` (issue 15).

The connection is the one Django uses (``DATABASES``, from ``DATABASE_URL``); host, port, user,
password and database reach ``pg_dump`` through libpq's environment (``PGPASSWORD`` …), never
its command line, where any user of the machine could read them in the process list. The
file is written as a hidden temporary beside the target and moved into place when the dump
has succeeded, readable by its owner only (0600): it holds every referral. It holds the
identity numbers encrypted, and the keys are not in it: back those up separately.

``restore_database`` reads such a file back into a new database and checks it.
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

# Connection options Django passes on to libpq, and the environment variable of each.
LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "service": "PGSERVICE",
    "passfile": "PGPASSFILE",
}
_SETTINGS = {"HOST": "PGHOST", "PORT": "PGPORT", "USER": "PGUSER", "PASSWORD": "PGPASSWORD"}
# pg_restore --list names each table "<id>; <oid> <oid> TABLE <schema> <name> <owner>".
_TABLE_ENTRY = re.compile(r"^\d+; \d+ \d+ TABLE (?!DATA )", re.MULTILINE)
TOOL_HELP = (
    "It comes with the PostgreSQL client (Debian: postgresql-client, of the server's major "
    "version). The application image has none: run it from a host that has it, or pg_dump "
    "in the postgres container (docs/operations.md, 'Backups and restore')."
)


def require_postgresql(connection) -> dict:
    """The settings of ``connection``, or a ``CommandError`` unless it is PostgreSQL."""
    if connection.vendor != "postgresql":
        raise CommandError(
            f"This command works with PostgreSQL only; the {connection.alias!r} database is "
            f"{connection.vendor} (set DATABASE_URL to a postgres:// URL). For the SQLite demo, "
            "copy db.sqlite3 while the portal is stopped."
        )
    return connection.settings_dict


def libpq_values(settings_dict: dict, *, dbname: str | None = None) -> dict[str, str]:
    """libpq's environment variables for a Django connection's settings (``dbname``
    instead of its own database if given); empty values are left out."""
    values = {variable: settings_dict.get(name) for name, variable in _SETTINGS.items()}
    values["PGDATABASE"] = dbname or settings_dict["NAME"]
    options = settings_dict.get("OPTIONS") or {}
    values |= {variable: options.get(name) for name, variable in LIBPQ_OPTIONS.items()}
    return {variable: str(value) for variable, value in values.items() if value not in (None, "")}


def libpq_environment(settings_dict: dict, *, dbname: str | None = None) -> dict[str, str]:
    """This process's environment with the connection's libpq variables set over it."""
    return {**os.environ, **libpq_values(settings_dict, dbname=dbname)}


def connect_kwargs(settings_dict: dict, *, dbname: str) -> dict[str, str]:
    """``psycopg.connect`` keywords for the same server as ``settings_dict``, ``dbname``."""
    names = {variable: name.lower() for name, variable in _SETTINGS.items()}
    names |= {variable: name for name, variable in LIBPQ_OPTIONS.items()}
    names["PGDATABASE"] = "dbname"
    return {
        names[variable]: value
        for variable, value in libpq_values(settings_dict, dbname=dbname).items()
    }


def find_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise CommandError(f"{name} was not found on PATH. {TOOL_HELP}")
    return path


def run_tool(arguments: list[str], *, env: dict[str, str], what: str) -> str:
    """Run a PostgreSQL client tool; its standard output, or a ``CommandError`` with the
    end of what it printed on standard error (libpq never prints the password)."""
    # The arguments are a tool found on PATH, fixed flags and names validated by the caller.
    result = subprocess.run(arguments, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        message = result.stderr.strip()[-2000:] or f"exit status {result.returncode}"
        raise CommandError(f"{what} failed: {message}")
    return result.stdout


def count_tables(path: Path) -> int:
    """The tables in a custom-format dump, by its table of contents (which also shows the
    file can be read back)."""
    listing = run_tool(
        [find_tool("pg_restore"), "--list", str(path)],
        env=dict(os.environ),
        what="pg_restore --list",
    )
    return len(_TABLE_ENTRY.findall(listing))


def human_size(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError  # unreachable


class Command(BaseCommand):
    help = (
        "Back the PostgreSQL database up to OUTPUT with pg_dump --format=custom (credentials "
        "through the environment, the file readable by its owner only). Refuses to overwrite "
        "an existing file unless --force. The identity keys are not in the dump: back them "
        "up separately. Read it back with restore_database."
    )

    def add_arguments(self, parser):
        parser.add_argument("output", metavar="OUTPUT", help="The file to write.")
        parser.add_argument("--force", action="store_true", help="Overwrite OUTPUT if it exists.")
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="The Django database alias to back up (default: %(default)s).",
        )

    def handle(self, *args, output: str, force: bool, database: str, **options):
        settings_dict = require_postgresql(connections[database])
        pg_dump = find_tool("pg_dump")
        target = Path(output)
        if target.is_dir():
            raise CommandError(f"{target} is a directory; give the name of the file to write.")
        if not target.parent.is_dir():
            raise CommandError(f"{target.parent} does not exist.")
        if target.exists() and not force:
            raise CommandError(f"{target} already exists; pass --force to overwrite it.")
        # mkstemp makes the file 0600 and pg_dump keeps the mode of a file it writes over.
        handle, partial = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".partial"
        )
        os.close(handle)
        try:
            run_tool(
                [pg_dump, "--format=custom", "--no-password", f"--file={partial}"],
                env=libpq_environment(settings_dict),
                what="pg_dump",
            )
            os.chmod(partial, 0o600)
            tables = count_tables(Path(partial))
            self._move_into_place(Path(partial), target, force=force)
        finally:
            Path(partial).unlink(missing_ok=True)
        size = target.stat().st_size
        self.stdout.write(
            self.style.SUCCESS(
                f"Backed up database {settings_dict['NAME']} to {target}: {human_size(size)}, "
                f"{tables} tables."
            )
        )
        self.stdout.write(
            "The identity numbers in it are encrypted: keep IDENTITY_ENCRYPTION_KEYS and "
            "IDENTITY_HASH_KEY backed up separately, never beside the dump."
        )

    def _move_into_place(self, partial: Path, target: Path, *, force: bool) -> None:
        if force:
            os.replace(partial, target)
            return
        try:
            os.link(partial, target)  # fails if the file has appeared meanwhile
        except FileExistsError:
            raise CommandError(f"{target} already exists; pass --force to overwrite it.") from None
        except OSError:  # a file system without hard links
            if target.exists():
                raise CommandError(
                    f"{target} already exists; pass --force to overwrite it."
                ) from None
            os.replace(partial, target)
