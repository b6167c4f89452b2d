"""Copying event fields onto Task and Worker objects, safely and fast.

celery does ``obj.__dict__.update(event)``, so an event key named ``info`` or
``heartbeats`` replaces a method or an internal list. Here known fields go to their slot,
unknown ones to the instance ``__dict__`` (still readable as attributes, as in celery),
and names of methods, properties and internal slots are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["FieldSetter", "reserved_names"]

Applier = Callable[[object, Mapping[str, Any]], None]


class FieldSetter:
    """Copies an event's fields onto one class's instances, skipping reserved names.

    A stream only ever has a handful of key layouts, so each layout is compiled once into
    a straight-line function: the copy is on the hot path of every event. Attribute names
    in the generated code come only from the class's own slot names; event keys appear
    only as string literals (``repr``), so no event can inject code.
    """

    __slots__ = ("_appliers", "_reserved", "_slots")

    _MAX_LAYOUTS = 512

    def __init__(self, slots: Iterable[str], reserved: Iterable[str]) -> None:
        self._slots = frozenset(slots)
        self._reserved = frozenset(reserved) - self._slots
        self._appliers: dict[tuple[str, ...], Applier] = {}

    def _compile(self, keys: tuple[str, ...]) -> Applier:
        lines = ["def apply(obj, f):"]
        extra = [
            k
            for k in keys
            if k not in self._slots and k not in self._reserved and isinstance(k, str) and k[:1] != "_"
        ]
        lines += [f"    obj.{k} = f[{k!r}]" for k in keys if k in self._slots]
        if extra:
            lines.append("    d = obj.__dict__")
            lines += [f"    d[{k!r}] = f[{k!r}]" for k in extra]
        lines.append("    return None")
        namespace: dict[str, Any] = {}
        exec(compile("\n".join(lines), "<evtop field setter>", "exec"), namespace)
        applier: Applier = namespace["apply"]
        return applier

    def apply(self, obj: object, fields: Mapping[str, Any]) -> None:
        keys = tuple(fields)
        applier = self._appliers.get(keys)
        if applier is None:
            applier = self._compile(keys)
            if len(self._appliers) < self._MAX_LAYOUTS:
                self._appliers[keys] = applier
        applier(obj, fields)

    def apply_only(self, obj: object, fields: Mapping[str, Any], keep: Iterable[str]) -> None:
        """Apply the subset of ``fields`` named in ``keep`` (celery's merge rules)."""
        self.apply(obj, {key: fields[key] for key in keep if key in fields})


def reserved_names(cls: type, settable: Iterable[str]) -> set[str]:
    """Names an event may not set on ``cls``: its methods, properties and internals."""
    names = {name for klass in cls.__mro__ for name in vars(klass)}
    return names - set(settable)
