"""``--demo`` as an event source: the simulated cluster plus the real broker receiver."""

from __future__ import annotations

import threading

from evtop.broker.status import ConnectionStatus, Phase, StatusSnapshot
from evtop.demo.cluster import DemoCluster, demo_config
from evtop.events.pipeline import Ingest
from evtop.events.receiver import Receiver


class DemoSource:
    """Publishes simulated events on ``memory://`` and consumes them like a broker stream."""

    def __init__(
        self, ingest: Ingest, *, wakeup: bool = True, seed: int | None = None, pace: float = 1.0
    ) -> None:
        config = demo_config()
        self.cluster = DemoCluster(config, seed=seed, pace=pace)
        self.receiver = Receiver(config, ingest, wakeup=wakeup)
        self.status: ConnectionStatus = self.receiver.status

    def run(self, stop: threading.Event) -> None:
        subscribed = threading.Event()

        def on_status(snapshot: StatusSnapshot) -> None:
            if snapshot.phase is Phase.CONNECTED:
                subscribed.set()

        def publish() -> None:
            # The memory transport drops what is published before the queue is bound,
            # so the cluster's worker-online events wait for the receiver.
            while not subscribed.wait(0.1):
                if stop.is_set():
                    return
            self.cluster.run(stop)

        self.status.subscribe(on_status)
        self.cluster.start()
        publisher = threading.Thread(target=publish, name="evtop-demo", daemon=True)
        publisher.start()
        try:
            self.receiver.run(stop)
        finally:
            stop.set()
            publisher.join(timeout=5)
