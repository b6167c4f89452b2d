"""``python -m evtop ... --dump --json`` as a real process, its stdout parsed line by line."""

from __future__ import annotations

import signal
import subprocess
import threading
import uuid
from typing import Any

from evtop.record.schema import EventRecord, parse
from tests.support.live import EvtopProcess, wait_until
from tests.support.publish import EventPublisher


class DumpProcess(EvtopProcess):
    """``python -m evtop ... --dump --json`` with its stdout parsed line by line."""

    def __init__(self, *args: str, **kwargs: Any) -> None:
        super().__init__(*args, "--dump", "--json", stdout=subprocess.PIPE, **kwargs)
        self.records: list[Any] = []
        self.lock = threading.Lock()
        self.out_reader = threading.Thread(target=self._read, daemon=True)
        self.out_reader.start()

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

            try:
                wait_until(seen, 20, interval=0.2)
            except TimeoutError:
                raise AssertionError(f"evtop --dump never printed its probe event: {self.err}") from None

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20.0) -> tuple[int, str]:  # type: ignore[override]
        """Ctrl-C, as a user stops it; the exit status and everything it said on stderr."""
        status = super().stop(sig, timeout)
        self.out_reader.join(10)
        return status, "".join(self.err)
