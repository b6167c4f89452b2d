"""A frozen ``--dump`` on Redis: the server drops it, and evtop says how much was really lost.

Redis disconnects a pub/sub subscriber whose output buffer passes its limit, and says
nothing to it. evtop only notices when it runs again, so the outage it measures is about a
second long while the workers' own timestamps show everything they sent while it was
frozen went missing. Here a real prefork worker runs tasks while ``evtop --dump`` is
stopped with SIGSTOP; after SIGCONT evtop must report the gap by the worker's clock (not
the one-second outage) and the task starts its heartbeats counted but no event showed.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.support.live import EvtopProcess, wait_until
from tests.support.servers import RedisServer
from tests.support.workers import send_task

pytestmark = [pytest.mark.broker, pytest.mark.worker]

FROZEN_FOR = 12.0
TASKS = 1500
#: Each task carries this much text through its events: enough to overflow Redis's buffer
#: for evtop's subscription (and the kernel's socket buffers before it) while it is frozen.
PAYLOAD = "x" * 800


def processed(worker) -> int:
    stats = worker.app.control.inspect([worker.nodename], timeout=1.0).stats() or {}
    return sum(stats.get(worker.nodename, {}).get("total", {}).values())


@pytest.mark.timeout(180)
def test_a_frozen_consumer_reports_the_gap_by_the_senders_clock(start_worker, tmp_path):
    # A small pub/sub buffer: a subscriber more than 64 kB behind is dropped at once.
    with RedisServer(config=("--client-output-buffer-limit", "pubsub 64kb 32kb 1")) as redis:
        worker = start_worker(redis.url, pool="prefork", concurrency=2)
        out = tmp_path / "dump.txt"
        with out.open("w") as stdout:
            evtop = EvtopProcess("-b", redis.url, "--dump", stdout=stdout)
        try:
            heard = f"{worker.nodename} ["
            wait_until(lambda: out.read_text().count(heard) >= 2, 30, "evtop never heard the worker")
            before = processed(worker)
            evtop.proc.send_signal(signal.SIGSTOP)
            frozen_at = time.monotonic()
            for _ in range(TASKS):
                send_task(redis.url, "evtop_test.echo", (PAYLOAD,))
            wait_until(lambda: processed(worker) >= before + TASKS, 60, "the worker never ran the tasks")
            # The scenario is a long freeze: hold it until the worker has sent heartbeats meanwhile.
            wait_until(lambda: time.monotonic() - frozen_at >= FROZEN_FOR, FROZEN_FOR + 5)
            evtop.proc.send_signal(signal.SIGCONT)
            evtop.wait_said("of its events were missed", 30)
            evtop.wait_said("were never seen", 30)
        finally:
            evtop.stop()
    text = "".join(evtop.err)
    resumed = re.search(r"event stream resumed after a ([\d.]+) s outage", text)
    gap = re.search(rf"{re.escape(worker.nodename)}: about (\d+) s of its events were missed", text)
    missed = re.search(rf"{re.escape(worker.nodename)}: \d+ task starts .* \((\d+) in all\)", text)
    assert resumed and gap and missed, text
    # evtop noticed the outage late and briefly; the worker's clock shows the real hole.
    assert float(resumed.group(1)) < FROZEN_FOR / 2 <= FROZEN_FOR - 3 <= int(gap.group(1)), text
    assert 0 < int(missed.group(1)) <= TASKS, text
    assert "Traceback" not in text
