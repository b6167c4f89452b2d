"""Snapshot cameras (``evtop -c module.Class``): a camera looks at the cluster state every
few seconds and does something with it, such as writing it to a database.

Write one by subclassing :class:`Polaroid` and overriding ``on_shutter(state)``; cameras
written for celery's ``Polaroid`` run too. ``evtop.camera.mode`` runs the chosen camera on
the event stream.
"""

from __future__ import annotations

from evtop.camera.polaroid import Polaroid
from evtop.camera.signal import Signal
from evtop.camera.timer import Timer

__all__ = ["Polaroid", "Signal", "Timer"]
