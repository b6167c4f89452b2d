"""``celery -A APP evtop --dump``: evtop run by celery's own CLI, through the installed
``celery.commands`` entry point, against a real redis and a real ``celery worker -E``.

The app's event exchange is not celery's default, and evtop is given no broker URL: it
prints the worker's events only if it took both from the app celery loaded.
"""

from __future__ import annotations

import uuid
from importlib.metadata import entry_points

import pytest

from tests.support.celery_app import EVENT_EXCHANGE_ENV
from tests.support.dump import DumpProcess
from tests.support.live import wait_until
from tests.support.servers import RedisServer
from tests.support.workers import APP_MODULE, send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]

ENTRY_POINT = "evtop.cli.celery_command:evtop"
REGISTERED = any(ep.value == ENTRY_POINT for ep in entry_points(group="celery.commands"))
needs_entry_point = pytest.mark.skipif(
    not REGISTERED,
    reason="evtop is not installed with its celery.commands entry point (scripts/test installs it)",
)


@needs_entry_point
@pytest.mark.timeout(90)
def test_celery_evtop_dumps_the_apps_events(redis_server: RedisServer, start_worker):
    url = redis_server.url
    app_env = {EVENT_EXCHANGE_ENV: f"evtop-ev-{uuid.uuid4().hex[:8]}"}
    worker = start_worker(url, pool="solo", env=app_env)
    # No -b: the broker, like the exchange, comes from the app (tests.support.celery_app reads both here).
    dump = DumpProcess(
        "--wakeup",
        program=("-m", "celery", "-A", APP_MODULE, "evtop"),
        env={**app_env, "EVTOP_TEST_BROKER": url},
    )
    try:
        wait_until(
            lambda: any(e.get("hostname") == worker.nodename for e in dump.events()),
            30,
            f"celery evtop never printed an event of {worker.nodename}: {dump.err}",
        )
        task_id = send_task(url, "evtop_test.add", (2, 3))
        wait_until(
            lambda: any(e.get("uuid") == task_id and e["type"] == "task-succeeded" for e in dump.events()),
            30,
            f"celery evtop never printed the task's success: {dump.err}",
        )
    finally:
        status, err = dump.stop()
    assert status == 130, err
    assert "Traceback" not in err
    assert f"dumping events from {url}" in err
