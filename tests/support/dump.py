"""``python -m evtop ... --dump --json`` as a real process, its stdout parsed line by line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from typing import Any

from evtop.record.schema import EventRecord, parse
from tests.support.live import wait_until
from tests.support.publish import EventPublisher
from tests.support.workers import REPO_ROOT


class DumpProcess:
    """``python -m evtop ... --dump --json`` with its stdout parsed line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evtop", *args, "--dump", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        self.records: list[Any] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            record = parse(line)
            with self.lock:
                self.records.append(record)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.event for r in self.records if isinstance(r, EventRecord)]

    def wait_subscribed(self, url: str) -> None:
        probe = f"probe-{uuid.uuid4().hex}"
        with EventPublisher(url) as publisher:

            def seen() -> bool:
                publisher.publish({"type": "evtop-probe", "id": probe}, routing_key="evtop.probe")
                return any(e.get("id") == probe for e in self.events())

            wait_until(seen, 20, "evtop --dump never printed its probe event", interval=0.2)

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=20)
        self.reader.join(10)
        return self.proc.returncode, err.decode()
