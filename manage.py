#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "welfare_portal.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # The settings refuse to load (production without its secrets, say): say why in one
        # line, and how the demo runs, instead of a traceback through the settings module.
        sys.exit(
            f"Configuration error: {error}\n"
            "With DEBUG off the portal needs its production settings (see .env.example); "
            "for the demo, run ./scripts/demo.sh or set DEBUG=true."
        )


if __name__ == "__main__":
    main()
