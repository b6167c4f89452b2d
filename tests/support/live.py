"""Live helpers for integration tests: evtop's Receiver in-process, evtop as a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evtop import State
from evtop.broker.config import BrokerConfig
from evtop.broker.status import Backoff
from evtop.events.pipeline import Ingest
from evtop.events.process.source import ProcessReceiver
from evtop.events.receiver import Receiver
from evtop.runner import INGEST_BATCH
from tests.support.publish import EventPublisher

PROBE = "evtop-probe"


def wait_until(
    predicate: Callable[[], Any], timeout: float, message: str = "", interval: float = 0.05
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(message or f"condition not met within {timeout} s")
        time.sleep(interval)


class LiveReceiver:
    """evtop's Receiver + Ingest + State in a thread; ``start()`` returns once events flow.

    Readiness is proven, not assumed: probe events are published until one comes back.
    Probes are counted by the ingest stats but kept out of ``state`` and ``events``.
    """

    def __init__(
        self,
        url: str,
        *,
        wakeup: bool = True,
        state: State | None = None,
        config: BrokerConfig | None = None,
        backoff: Backoff | None = None,
        reader: str = "thread",
    ) -> None:
        """``reader``: ``process`` reads through evtop's reader process (``--reader process``)."""
        self.url = url
        self.state = state if state is not None else State()
        self.events: list[dict[str, Any]] = []
        self.probes = 0
        self.lock = threading.Lock()
        # Batched as the modes that keep a State have it: each read's events are applied
        # when the read is done, which every live test here then relies on.
        self.ingest = Ingest(self._handle, batch=INGEST_BATCH)
        self.config = config if config is not None else BrokerConfig(url=url)
        source = ProcessReceiver if reader == "process" else Receiver
        self.receiver: Receiver | ProcessReceiver = source(
            self.config, self.ingest, wakeup=wakeup, backoff=backoff or Backoff(base=0.2, cap=1.0)
        )
        self.status = self.receiver.status
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.receiver.run, args=(self.stop_event,), daemon=True)

    def _handle(self, event: dict[str, Any]) -> None:
        if event["type"] == PROBE:
            self.probes += 1
            return
        with self.lock:
            self.events.append(dict(event))
            self.state.event(event)

    def wait_flowing(self, timeout: float = 20.0) -> None:
        before = self.probes
        with EventPublisher(
            self.url, self.config.event_exchange, dict(self.config.transport_options)
        ) as publisher:

            def probe() -> bool:
                publisher.publish(
                    {"type": PROBE, "hostname": "probe@test", "id": uuid.uuid4().hex},
                    routing_key="evtop.probe",
                )
                return self.probes > before

            wait_until(probe, timeout, "evtop's receiver never saw its probe event", interval=0.2)

    def start(self, timeout: float = 20.0) -> LiveReceiver:
        self.thread.start()
        self.wait_flowing(timeout)
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)

    def __enter__(self) -> LiveReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class EvtopProcess:
    """``python -m evtop ARGS`` from this checkout, its stderr lines collected as they come."""

    def __init__(
        self,
        *args: str,
        stdout: Any = subprocess.DEVNULL,
        program: Sequence[str] = ("-m", "evtop"),
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``program`` runs evtop some other way (``-m celery -A APP evtop``); ``env`` adds variables."""
        root = Path(__file__).resolve().parents[2]
        pythonpath = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]
        self.proc = subprocess.Popen(
            [sys.executable, *program, *args],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            cwd=root,
            env={**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join([str(root), *pythonpath])},
        )
        self.err: list[str] = []
        assert self.proc.stderr is not None
        stderr = self.proc.stderr
        self.reader = threading.Thread(target=lambda: self.err.extend(iter(stderr.readline, "")), daemon=True)
        self.reader.start()

    def said(self, text: str) -> bool:
        return any(text in line for line in self.err)

    def wait_said(self, text: str, timeout: float) -> None:
        wait_until(lambda: self.said(text), timeout, f"evtop never said {text!r}: {self.err}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal it (once more SIGCONT, in case it was stopped), wait, and return its status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(sig)
        self.proc.wait(timeout=timeout)
        self.reader.join(10)
        return self.proc.returncode
