"""``-c module.Class`` / ``-c module:Class``: from a dotted path to a camera, or a usage error.

Only the two forms celery documents are accepted, and only from the command line (never
a name from the event stream). Every way this can fail (no such module, the module
raising on import, no such attribute, not a class, not a camera, a constructor that
refuses evtop's arguments) is one :class:`~evtop.errors.UsageError` line, exit status 2.

The current directory is made importable, as ``python -m celery`` and evtop's own
``-A/--app`` do, so ``evtop -c mycams.Camera`` finds ``./mycams.py``. It stays on
``sys.path`` for the whole run, because cameras import more from there later (Django
settings when they install, for instance). (The ``celery`` script itself does not add
the directory for ``-c``, so ``celery events -c mycams.Camera`` fails to find it.)
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

from evtop.errors import EvtopError, UsageError, describe_error

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_MODULE_RE = re.compile(rf"{_NAME}(?:\.{_NAME})*")
_ATTR_RE = re.compile(_NAME)
#: What every camera has: what evtop calls to start it and to take the final snapshot.
CAMERA_METHODS = ("install", "cancel")


def split_path(path: str) -> tuple[str, str]:
    """``("module", "Class")`` from ``module:Class`` or ``module.Class``."""
    module, sep, attr = path.partition(":") if ":" in path else path.rpartition(".")
    if not sep or not _MODULE_RE.fullmatch(module) or not _ATTR_RE.fullmatch(attr):
        raise UsageError(f"-c/--camera {path!r}: expected module.Class or module:Class")
    return module, attr


def is_class_path(path: str) -> bool:
    """Whether ``path`` is written as :func:`split_path` takes it."""
    try:
        split_path(path)
    except UsageError:
        return False
    return True


def cwd_importable() -> None:
    """Put the current directory first on ``sys.path`` unless it is there already."""
    try:
        cwd = os.getcwd()
    except OSError:  # the directory was removed: nothing to import from
        return
    if cwd not in sys.path:
        sys.path.insert(0, cwd)


def load_camera_class(path: str) -> type[Any]:
    """The camera class named by ``path``; raises UsageError saying what is wrong."""
    module_name, attr = split_path(path)
    cwd_importable()
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UsageError(f"-c/--camera {path}: cannot import {module_name} ({describe_error(exc)})") from None
    try:
        found = getattr(module, attr)
    except AttributeError:
        raise UsageError(f"-c/--camera {path}: module {module_name} has no attribute {attr!r}") from None
    if not isinstance(found, type):
        raise UsageError(f"-c/--camera {path}: not a class (a {type(found).__name__})")
    missing = [name for name in CAMERA_METHODS if not callable(getattr(found, name, None))]
    if missing:
        raise UsageError(
            f"-c/--camera {path}: is not a camera (no {'/'.join(missing)} method); "
            "subclass evtop.camera.Polaroid"
        )
    return found


def instantiate(camera_class: type[Any], path: str, *args: Any, **kwargs: Any) -> Any:
    """``camera_class(*args, **kwargs)``, failing in one line.

    A TypeError (a constructor that does not take celery's arguments) is a usage error;
    anything else (a database that is down) is a runtime error, exit status 1.
    """
    try:
        return camera_class(*args, **kwargs)
    except TypeError as exc:
        raise UsageError(f"-c/--camera {path}: cannot create the camera ({describe_error(exc)})") from None
    except Exception as exc:
        raise EvtopError(f"camera {path}: could not be created ({describe_error(exc)})") from None
