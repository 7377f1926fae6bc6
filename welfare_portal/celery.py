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
    """Each worker process, once started, freezes what loading the portal made, as the web
    workers do (``welfare_portal/wsgi.py``): a full collection then walks only what its
    tasks left behind."""
    gc.collect()
    gc.freeze()
