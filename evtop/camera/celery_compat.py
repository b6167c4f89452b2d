"""Cameras written against celery: which ones they are, and the Celery app they expect.

A camera subclassing ``celery.events.snapshot.Polaroid`` imported celery itself, so evtop
may use celery for it, and must: celery's ``Polaroid.__init__`` falls back to celery's
default app, and cameras such as django-celery-monitor's read ``self.app.conf`` and call
``self.app.add_defaults``. evtop never imports celery to find out: the camera's module
has done so already, or the camera is not a celery one.
"""

from __future__ import annotations

import sys
from typing import Any

from evtop.options import Options


def is_celery_camera(camera_class: type[Any]) -> bool:
    """True for subclasses of celery's ``Polaroid`` (checked without importing celery)."""
    snapshot = sys.modules.get("celery.events.snapshot")
    base = getattr(snapshot, "Polaroid", None)
    return isinstance(base, type) and issubclass(camera_class, base)


def camera_app(options: Options, camera_class: type[Any]) -> Any:
    """The ``app`` argument of the camera, as ``celery events -c`` would pass it.

    The app ``celery evtop`` runs in, or the ``-A`` app when one was given; otherwise,
    for a celery camera, a Celery app configured with evtop's broker URL and transport
    options (what ``celery -b URL events`` uses); otherwise None, as evtop has no app.
    """
    if options.celery_app is not None:
        return options.celery_app
    if options.app:
        from evtop.celery_app import load_app

        return load_app(options.app)
    if not is_celery_camera(camera_class):
        return None
    from celery import Celery

    app = Celery("evtop", broker=options.broker.url)
    app.conf.broker_transport_options = dict(options.broker.transport_options)
    app.conf.event_exchange = options.broker.event_exchange
    app.conf.control_exchange = options.broker.control_exchange
    return app
