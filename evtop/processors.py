"""How many processors evtop may keep busy: its affinity mask and its cgroup's CPU quota.

A container limited to one CPU (``docker --cpus 1``, a Kubernetes CPU limit) still sees
every processor of its host in its affinity mask; a second busy process there only
takes turns with the first. The quota is read the way the kernel applies it: the
smallest of the cgroup's and its ancestors', for cgroup v2 (``cpu.max``) and v1
(``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), found through the process's mounts.
"""

from __future__ import annotations

import math
import os
import posixpath
from collections.abc import Callable, Iterator

#: Reads a file's text, or None when it cannot be read.
Read = Callable[[str], "str | None"]


def usable_processors() -> int:
    """Processors this process may run on at once: its affinity mask, capped by the CPU
    quota of its cgroup (rounded down, at least one)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = cgroup_cpu_limit(_read("/proc/self/mountinfo") or "", _read("/proc/self/cgroup") or "", _read)
    if quota is not None:
        count = min(count, max(1, math.floor(quota)))
    return count


def cgroup_cpu_limit(mountinfo: str, cgroups: str, read: Read) -> float | None:
    """The CPUs the process's cgroups allow it (quota / period), or None when unlimited.

    ``mountinfo`` and ``cgroups`` are the texts of ``/proc/self/mountinfo`` and
    ``/proc/self/cgroup``; ``read`` reads the cgroup files.
    """
    limits = [
        limit
        for directory, version in _cgroup_directories(mountinfo, cgroups)
        for limit in [_limit(directory, version, read)]
        if limit is not None
    ]
    return min(limits, default=None)


def _cgroup_directories(mountinfo: str, cgroups: str) -> Iterator[tuple[str, int]]:
    """(directory, cgroup version) of each CPU controller's cgroup and of its ancestors,
    down to the mount's root."""
    paths: dict[int, str] = {}  # 2: the unified hierarchy; 1: the v1 hierarchy with "cpu"
    for line in cgroups.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:
            paths[2] = path
        elif "cpu" in controllers.split(","):
            paths[1] = path
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        if len(fields) < dash + 4 or dash < 5:
            continue
        root, mount_point, fstype, options = fields[3], fields[4], fields[dash + 1], fields[dash + 3]
        if fstype == "cgroup2":
            version = 2
        elif fstype == "cgroup" and "cpu" in options.split(","):
            version = 1
        else:
            continue
        cgroup = paths.get(version)
        if cgroup is None:
            continue
        # The mount shows the hierarchy from ``root`` down (a container sees its own cgroup
        # as the root): the process's cgroup is its path below that root.
        inside = cgroup == root or cgroup.startswith(root.rstrip("/") + "/")
        relative = posixpath.relpath(cgroup, root) if inside else "."
        directory = posixpath.normpath(posixpath.join(mount_point, relative))
        while True:
            yield directory, version
            if len(directory) <= len(mount_point):  # the mount point: the top it shows
                break
            directory = posixpath.dirname(directory)


def _limit(directory: str, version: int, read: Read) -> float | None:
    try:
        if version == 2:
            fields = (read(posixpath.join(directory, "cpu.max")) or "").split()
            if len(fields) != 2 or fields[0] == "max":
                return None
            return int(fields[0]) / int(fields[1])
        quota_text = read(posixpath.join(directory, "cpu.cfs_quota_us"))
        period_text = read(posixpath.join(directory, "cpu.cfs_period_us"))
        if quota_text is None or period_text is None or int(quota_text) < 0:
            return None
        return int(quota_text) / int(period_text)
    except (ValueError, ZeroDivisionError):  # a file this code does not know: no limit read
        return None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read()
    except OSError:
        return None
