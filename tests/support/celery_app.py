"""A tiny Celery app used by real test workers and, in-process, as the oracle / task sender.

Workers are started with ``celery -A tests.support.celery_app worker`` and take the broker from the
``EVTOP_TEST_BROKER`` environment variable.  The result backend is *disabled* unless
``EVTOP_TEST_BACKEND`` is set: tests observe tasks through events, never through results.

In-process code talking to several brokers should use :func:`make_app` (one app per broker URL)
rather than the module-level :data:`app`.

Task names are fixed (``evtop_test.*``) so they never depend on how this module was imported.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery, Task

__all__ = ["APP_NAME", "TASK_NAMES", "app", "configure", "make_app"]

APP_NAME = "evtop_test"

TASK_NAMES = {
    "add": "evtop_test.add",
    "fail": "evtop_test.fail",
    "flaky": "evtop_test.flaky",
    "sleep": "evtop_test.sleep",
    "spawn_children": "evtop_test.spawn_children",
    "echo": "evtop_test.echo",
    "progress": "evtop_test.progress",
}


#: Set to "0" in a worker's environment for a worker without task events.
TASK_EVENTS_ENV = "EVTOP_TEST_TASK_EVENTS"
#: The app's event exchange, when not celery's default.
EVENT_EXCHANGE_ENV = "EVTOP_TEST_EVENT_EXCHANGE"


def configure(celery_app: Celery, broker_url: str | None, backend_url: str | None = None) -> Celery:
    """Apply the settings every evtop test app shares."""
    celery_app.conf.update(
        broker_url=broker_url,
        result_backend=backend_url or None,
        # CeleryWorker(task_events=False) turns it off: ``-E`` can only turn it on.
        worker_send_task_events=os.environ.get(TASK_EVENTS_ENV, "1") == "1",
        task_send_sent_event=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_acks_late=False,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        event_serializer="json",
        # a test of an app's own exchange name (``celery -A APP evtop`` must use it)
        event_exchange=os.environ.get(EVENT_EXCHANGE_ENV) or "celeryev",
    )
    return celery_app


def make_app(broker_url: str | None = None, backend_url: str | None = None) -> Celery:
    """A fresh, configured app (no tasks registered) for sending tasks / control / events."""
    return configure(Celery(APP_NAME, set_as_current=False), broker_url, backend_url)


app = configure(
    Celery(APP_NAME),
    os.environ.get("EVTOP_TEST_BROKER") or None,
    os.environ.get("EVTOP_TEST_BACKEND") or None,
)


@app.task(name=TASK_NAMES["add"])
def add(x: Any, y: Any) -> Any:
    return x + y


@app.task(name=TASK_NAMES["fail"])
def fail(msg: str = "boom") -> None:
    raise ValueError(msg)


@app.task(name=TASK_NAMES["flaky"], bind=True, max_retries=None)
def flaky(self: Task, n: int) -> int:
    """Retry ``n`` times (countdown 0.1 s), then succeed returning the number of retries."""
    if self.request.retries < n:
        raise self.retry(countdown=0.1, max_retries=n)
    return int(self.request.retries)


@app.task(name=TASK_NAMES["sleep"])
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.task(name=TASK_NAMES["spawn_children"])
def spawn_children(n: int, queue: str | None = None) -> list[str]:
    """Enqueue ``n`` ``add`` subtasks (their events carry parent_id/root_id), on ``queue``
    if given; return their ids."""
    return [add.apply_async((i, i), queue=queue).id for i in range(n)]


@app.task(name=TASK_NAMES["echo"])
def echo(value: Any) -> Any:
    return value


@app.task(name=TASK_NAMES["progress"], bind=True)
def progress(self: Task, done: int, total: int, hold: float = 0.0) -> int:
    """Report ``done`` of ``total`` steps in custom ``task-progress`` events (Flower's PROGRESS
    case), then run on for ``hold`` seconds."""
    for step in range(1, done + 1):
        self.send_event("task-progress", current=step, total=total)
    time.sleep(hold)
    return done
