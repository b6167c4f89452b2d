"""A simulated Celery cluster that publishes real event messages for ``evtop --demo``.

It publishes exactly what Celery workers and clients put on the wire:
JSON bodies, ``hostname`` headers, routing keys from the event type, task events batched
into ``task.multi`` lists like a prefork worker, worker events one by one. Published on
kombu's in-process ``memory://`` transport, the events then travel through the same
Receiver → Ingest → State path a real broker feeds, so the demo exercises the real
pipeline rather than a mock of it.
"""

from __future__ import annotations

import heapq
import itertools
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from kombu import Connection

from evtop.broker.config import BrokerConfig
from evtop.broker.dispatch import EventSender, event_body, task_received_fields, task_sent_fields

DEMO_URL = "memory://localhost/"
#: The memory transport otherwise sleeps a whole second whenever its queue is empty.
DEMO_TRANSPORT_OPTIONS = {"polling_interval": 0.05}
HEARTBEAT_INTERVAL = 2.0
FLUSH_INTERVAL = 0.1
CELERY_VERSION = "5.6.3"


def demo_config() -> BrokerConfig:
    return BrokerConfig(url=DEMO_URL, transport_options=dict(DEMO_TRANSPORT_OPTIONS))


@dataclass(frozen=True)
class TaskType:
    """A kind of task the demo runs: how long it takes and how it goes wrong."""

    name: str
    args: Callable[[random.Random], str]
    runtime: tuple[float, float]
    result: Callable[[random.Random], str] = lambda r: "None"
    fail_rate: float = 0.0
    exception: str = ""
    retry_rate: float = 0.0
    retry_exception: str = ""
    revoke_rate: float = 0.0
    children: tuple[str, int, int] | None = None  # (child task name, min, max)
    weight: int = 1
    #: Steps reported while running, in ``task-progress`` events with current and total
    #: (a custom event, as a task sends with ``self.send_event``); 0: none.
    progress: int = 0


def _path(r: random.Random) -> str:
    return f"('/srv/media/{r.randrange(10**6):06d}.jpg', {r.choice((128, 256, 512))})"


TASK_TYPES: tuple[TaskType, ...] = (
    TaskType(
        "proj.tasks.add",
        lambda r: f"({r.randrange(100)}, {r.randrange(100)})",
        (0.001, 0.02),
        lambda r: str(r.randrange(200)),
        weight=6,
    ),
    TaskType(
        "mail.send_welcome",
        lambda r: f"({r.randrange(10**5)},)",
        (0.2, 1.2),
        lambda r: "True",
        retry_rate=0.08,
        retry_exception="SMTPServerDisconnected('Connection unexpectedly closed')",
        weight=4,
    ),
    TaskType(
        "reports.generate_pdf",
        lambda r: f"('q{r.randrange(1, 5)}-2026', 'sales')",
        (2.0, 8.0),
        lambda r: f"'s3://reports/{r.randrange(10**6)}.pdf'",
        fail_rate=0.05,
        exception="MemoryError()",
        weight=1,
    ),
    TaskType("images.resize", _path, (0.1, 0.9), lambda r: "{'width': 256, 'height': 192}", weight=5),
    TaskType(
        "billing.charge_card",
        lambda r: f"('cus_{r.randrange(10**8):08x}', {r.randrange(500, 20000)})",
        (0.3, 1.5),
        lambda r: "{'status': 'succeeded'}",
        fail_rate=0.12,
        exception="CardDeclined('insufficient_funds')",
        retry_rate=0.1,
        retry_exception="ConnectionError('payment gateway timeout')",
        weight=3,
    ),
    TaskType(
        "search.reindex",
        lambda r: f"('products', {r.randrange(10, 99)})",
        (0.5, 1.5),
        lambda r: "'scheduled'",
        children=("search.index_document", 2, 5),
        weight=1,
    ),
    TaskType(
        "search.index_document",
        lambda r: f"('products', {r.randrange(10**6)})",
        (0.05, 0.4),
        lambda r: "True",
        weight=0,
    ),
    TaskType(
        "notifications.push",
        lambda r: f"({r.randrange(10**5)}, 'Your order shipped')",
        (0.05, 0.3),
        lambda r: "1",
        fail_rate=0.03,
        exception="DeviceTokenExpired('apns: BadDeviceToken')",
        weight=4,
    ),
    TaskType(
        "analytics.aggregate_daily",
        lambda r: "('2026-11-22',)",
        (3.0, 10.0),
        lambda r: "{'rows': 48211}",
        weight=1,
        progress=20,
    ),
    TaskType(
        "etl.import_csv",
        lambda r: f"('/data/in/batch-{r.randrange(999):03d}.csv',)",
        (1.0, 4.0),
        lambda r: "{'imported': 1000}",
        fail_rate=0.2,
        exception="ValueError(\"could not convert string to float: 'N/A'\")",
        weight=2,
        progress=10,
    ),
    TaskType("cache.warm", lambda r: "('homepage',)", (0.1, 0.5), lambda r: "None", weight=2),
    TaskType(
        "video.transcode",
        lambda r: f"('upload-{r.randrange(10**5)}.mov', '1080p')",
        (6.0, 20.0),
        lambda r: "'done'",
        revoke_rate=0.25,
        weight=1,
    ),
)
_BY_NAME = {t.name: t for t in TASK_TYPES}

_TRACEBACK = """Traceback (most recent call last):
  File "/venv/lib/python3.12/site-packages/celery/app/trace.py", line 453, in trace_task
    R = retval = fun(*args, **kwargs)
  File "/srv/app/{module}.py", line {line}, in {func}
    {code}
{exception_type}: {message}
"""


def _traceback(task_name: str, exception: str, rng: random.Random) -> str:
    module, _, func = task_name.rpartition(".")
    exception_type, _, rest = exception.partition("(")
    return _TRACEBACK.format(
        module=module.replace(".", "/"),
        func=func,
        line=rng.randrange(20, 400),
        code=f"return client.{func}(*args)",
        exception_type=exception_type,
        message=rest.rstrip(")").strip("'\""),
    )


@dataclass
class _Job:
    """One task's journey through the simulated cluster (kept across retries)."""

    type: TaskType
    task_id: str
    args: str
    parent_id: str | None
    root_id: str
    retries: int = 0


@dataclass
class _Worker:
    hostname: str
    pid: int
    concurrency: int
    active: int = 0
    processed: int = 0
    online: bool = True
    load: list[float] = field(default_factory=lambda: [0.4, 0.3, 0.2])
    buffer: list[dict[str, Any]] = field(default_factory=list)


class DemoCluster:
    """Publishes a realistic, endless event stream until stopped."""

    def __init__(
        self,
        config: BrokerConfig | None = None,
        *,
        seed: int | None = None,
        rate: float = 6.0,
        pace: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config if config is not None else demo_config()
        self.rate = rate
        #: Multiplies every simulated delay: tests run the same story 20x faster with 0.05.
        self.pace = pace
        self._rng = random.Random(seed)
        self._time = clock
        self._lamport = itertools.count(1)
        self._agenda: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._workers = [
            _Worker(f"celery@{name}", pid=self._rng.randrange(1000, 60000), concurrency=c)
            for name, c in (("alpha", 8), ("bravo", 8), ("charlie", 4), ("delta", 4))
        ]
        self._client = f"gen{self._rng.randrange(1000, 60000)}@web-1"
        self._utcoffset = time.timezone // 3600
        self._sender: EventSender | None = None

    # -- publishing ----------------------------------------------------------------------

    def _fields(self, type_: str, hostname: str, pid: int, **extra: Any) -> dict[str, Any]:
        return event_body(
            type_,
            hostname,
            clock=next(self._lamport),
            timestamp=self._time(),
            pid=pid,
            utcoffset=self._utcoffset,
            **extra,
        )

    def _send(self, body: Any, hostname: str) -> None:
        assert self._sender is not None
        self._sender.send(body, hostname)

    def _worker_event(self, worker: _Worker, kind: str) -> None:
        event = self._fields(
            f"worker-{kind}",
            worker.hostname,
            worker.pid,
            freq=HEARTBEAT_INTERVAL,
            active=worker.active,
            processed=worker.processed,
            loadavg=[round(x, 2) for x in worker.load],
            sw_ident="py-celery",
            sw_ver=CELERY_VERSION,
            sw_sys="Linux",
        )
        self._send(event, worker.hostname)

    def _task_event(self, worker: _Worker, kind: str, task_id: str, **extra: Any) -> None:
        worker.buffer.append(self._fields(f"task-{kind}", worker.hostname, worker.pid, uuid=task_id, **extra))

    def _flush(self) -> None:
        for worker in self._workers:
            if worker.buffer:
                batch, worker.buffer = worker.buffer, []
                self._send(batch, worker.hostname)

    # -- simulation ----------------------------------------------------------------------

    def _at(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._agenda, (self._time() + delay * self.pace, next(self._order), action))

    def _pick_worker(self) -> _Worker | None:
        online = [w for w in self._workers if w.online and w.active < w.concurrency]
        return self._rng.choice(online) if online else None

    def _submit(self, task_type: TaskType, parent_id: str | None = None, root_id: str | None = None) -> None:
        rng = self._rng
        task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        job = _Job(task_type, task_id, task_type.args(rng), parent_id, root_id or task_id)
        sent = self._fields(
            "task-sent",
            self._client,
            os.getpid(),
            uuid=task_id,
            **task_sent_fields(task_type.name, job.args, root_id=job.root_id, parent_id=parent_id),
        )
        self._send(sent, self._client)
        self._at(rng.uniform(0.01, 0.3), lambda: self._receive(job))

    def _receive(self, job: _Job) -> None:
        worker = self._pick_worker()
        if worker is None:  # cluster saturated: the message waits in the queue
            self._at(0.5, lambda: self._receive(job))
            return
        self._task_event(
            worker,
            "received",
            job.task_id,
            **task_received_fields(
                job.type.name, job.args, root_id=job.root_id, parent_id=job.parent_id, retries=job.retries
            ),
        )
        worker.active += 1
        self._at(self._rng.uniform(0.005, 0.2), lambda: self._start(worker, job))

    def _start(self, worker: _Worker, job: _Job) -> None:
        self._task_event(worker, "started", job.task_id)
        runtime = self._rng.uniform(*job.type.runtime)
        steps = job.type.progress
        for step in range(1, steps):
            self._at(
                runtime * step / steps,
                partial(self._task_event, worker, "progress", job.task_id, current=step, total=steps),
            )
        self._at(runtime, lambda: self._finish(worker, job, runtime))

    def _finish(self, worker: _Worker, job: _Job, runtime: float) -> None:
        rng = self._rng
        kind = job.type
        worker.active = max(0, worker.active - 1)
        worker.processed += 1
        roll = rng.random()
        if roll < kind.revoke_rate:
            self._task_event(worker, "revoked", job.task_id, terminated=True, signum="15", expired=False)
        elif roll < kind.revoke_rate + kind.retry_rate and job.retries < 3:
            exc = kind.retry_exception
            self._task_event(
                worker,
                "retried",
                job.task_id,
                exception=f"Retry in 2s: {exc}",
                traceback=_traceback(kind.name, exc, rng),
            )
            job.retries += 1
            self._at(2.0, lambda: self._receive(job))
        elif roll < kind.revoke_rate + kind.retry_rate + kind.fail_rate:
            exc = kind.exception
            self._task_event(
                worker, "failed", job.task_id, exception=exc, traceback=_traceback(kind.name, exc, rng)
            )
        else:
            self._task_event(
                worker, "succeeded", job.task_id, result=kind.result(rng), runtime=round(runtime, 6)
            )
            if kind.children is not None:
                child_name, low, high = kind.children
                for _ in range(rng.randint(low, high)):
                    self._submit(_BY_NAME[child_name], parent_id=job.task_id, root_id=job.root_id)

    def _heartbeats(self) -> None:
        for worker in self._workers:
            if worker.online:
                worker.load = [max(0.0, x + self._rng.uniform(-0.1, 0.1)) for x in worker.load]
                self._worker_event(worker, "heartbeat")
        self._at(HEARTBEAT_INTERVAL, self._heartbeats)

    def _restart_delta(self) -> None:
        """One worker restarts now and then, so offline/online transitions show up."""
        worker = self._workers[-1]
        self._worker_event(worker, "offline")
        worker.online = False
        worker.active = 0

        def back() -> None:
            worker.online = True
            worker.pid = self._rng.randrange(1000, 60000)
            worker.processed = 0
            self._worker_event(worker, "online")

        self._at(8.0, back)
        self._at(120.0, self._restart_delta)

    def _arrivals(self) -> None:
        weighted = [t for t in TASK_TYPES for _ in range(t.weight)]
        self._submit(self._rng.choice(weighted))
        self._at(self._rng.expovariate(self.rate), self._arrivals)

    def _connection(self) -> Connection:
        return Connection(self.config.url, transport_options=dict(self.config.transport_options))

    def start(self) -> None:
        """The workers come up: the event exchange exists from now on."""
        with self._connection() as connection:
            EventSender(connection, self.config.event_exchange).declare()

    def run(self, stop: threading.Event) -> None:
        """Publish until ``stop`` is set."""
        with self._connection() as connection:
            self._sender = EventSender(connection, self.config.event_exchange)
            for worker in self._workers:
                self._worker_event(worker, "online")
            self._at(HEARTBEAT_INTERVAL, self._heartbeats)
            self._at(0.2, self._arrivals)
            self._at(60.0, self._restart_delta)
            while not stop.is_set():
                now = self._time()
                while self._agenda and self._agenda[0][0] <= now:
                    heapq.heappop(self._agenda)[2]()
                self._flush()
                stop.wait(FLUSH_INTERVAL * min(1.0, self.pace))
