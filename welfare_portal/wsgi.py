"""The WSGI application (gunicorn imports it in each worker process).

Once the portal is loaded (its URLs, and with them every view, form and serializer module),
the objects made so far live as long as the process: ``gc.freeze()`` moves them out of the
garbage collector's reach, so that a full collection walks what requests left behind, not
the quarter of a million objects of Django and the portal (a full collection took 100-300 ms
of a partner's sync page, measured by ``bench/api.py``; a few milliseconds after).
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "welfare_portal.settings")

application = get_wsgi_application()


def _load_and_freeze() -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the views, as the first request would
    gc.collect()
    gc.freeze()


_load_and_freeze()
