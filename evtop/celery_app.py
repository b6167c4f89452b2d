"""``-A/--app``: borrow broker settings from the user's Celery app, if celery is installed.

This is the only place evtop imports celery, and only when asked to: the point is to
use exactly the workers' broker URL, transport options and exchange names.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from evtop.errors import UsageError


@dataclass(frozen=True)
class AppSettings:
    broker_url: str | None
    transport_options: dict[str, Any] = field(default_factory=dict)
    event_exchange: str = "celeryev"
    event_queue_prefix: str = "celeryev"
    event_queue_ttl: float | None = 5.0
    event_queue_expires: float | None = 60.0
    control_exchange: str = "celery"
    event_serializer: str = "json"


def load_app(spec: str) -> Any:
    """The user's Celery app object (cameras written for celery's Polaroid take it too)."""
    try:
        from celery.app.utils import find_app
    except ImportError:
        raise UsageError(
            f"-A/--app {spec}: celery is not installed here; install it or give the broker with -b"
        ) from None
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as the celery command does
    try:
        return find_app(spec)
    except Exception as exc:  # import errors of the user's module, AttributeError, ...
        raise UsageError(f"-A/--app {spec}: cannot load the app ({type(exc).__name__}: {exc})") from None


def app_settings(app: Any) -> AppSettings:
    """What evtop takes from a Celery app: only plain values are read, so celery is not
    imported here (``celery evtop`` has loaded it already)."""
    conf = app.conf

    def setting(name: str, default: Any) -> Any:
        value = conf.get(name)
        return default if value is None else value

    return AppSettings(
        # celery's properties: $CELERY_BROKER_URL (set by ``celery -b``) beats the config, as for workers
        broker_url=getattr(conf, "broker_read_url", None) or conf.get("broker_url"),
        transport_options=dict(setting("broker_transport_options", {})),
        event_exchange=setting("event_exchange", "celeryev"),
        event_queue_prefix=setting("event_queue_prefix", "celeryev"),
        event_queue_ttl=setting("event_queue_ttl", 5.0),
        event_queue_expires=setting("event_queue_expires", 60.0),
        control_exchange=setting("control_exchange", "celery"),
        event_serializer=setting("event_serializer", "json"),
    )
