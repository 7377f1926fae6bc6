"""The Celery application: configured from Django settings (``CELERY_*``).

The worker and beat log as the web processes do: Django's ``LOGGING`` (JSON or text lines
with the request id, welfare_portal/observability.py) instead of the handlers Celery would
put on the root logger. The root level is the command's ``-l``/``--loglevel`` when given, as
with Celery's own logging; ``LOG_LEVEL`` otherwise.
"""

import gc
import logging.config
import os

from celery import Celery
from celery.signals import setup_logging, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "welfare_portal.settings")

app = Celery("welfare_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(loglevel=None, **kwargs) -> None:
    """Celery leaves the logging alone when a receiver of this signal configures it."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


@worker_process_init.connect
def freeze_loaded_objects(**kwargs) -> None:
    """Each worker process, once started, loads the portal's URLs (a notification's links
    need them: the first task of a new process paid for it, 0.8-2 s into a burst) and freezes
    what loading made, as the web workers do (``welfare_portal/wsgi.py``): a full
    collection then walks only what its tasks left behind."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the views, as the first reverse() would
    gc.collect()
    gc.freeze()
