"""The processors evtop counts for ``--reader auto``: affinity capped by the cgroup quota."""

from __future__ import annotations

import os

import pytest

from evtop import processors
from evtop.processors import cgroup_cpu_limit, usable_processors

V2_MOUNTS = "41 31 0:38 / /sys/fs/cgroup rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
V1_MOUNTS = (
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
)


def reader(files: dict[str, str]) -> processors.Read:
    return files.get


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("150000 100000\n", 1.5), ("50000 100000\n", 0.5), ("garbage\n", None)],
)
def test_cgroup_v2_quota(cpu_max, expected):
    files = {"/sys/fs/cgroup/system.slice/app.service/cpu.max": cpu_max}
    assert cgroup_cpu_limit(V2_MOUNTS, "0::/system.slice/app.service\n", reader(files)) == expected


def test_the_smallest_quota_of_the_cgroup_and_its_ancestors_counts():
    files = {
        "/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max": "max 100000",
        "/sys/fs/cgroup/kubepods/pod1/cpu.max": "100000 100000",  # the pod's limit: one CPU
        "/sys/fs/cgroup/kubepods/cpu.max": "400000 100000",
    }
    assert cgroup_cpu_limit(V2_MOUNTS, "0::/kubepods/pod1/ctr\n", reader(files)) == 1.0


def test_a_container_sees_its_own_cgroup_as_the_mount_root():
    mounts = "41 31 0:38 /docker/abc /sys/fs/cgroup ro,relatime - cgroup2 cgroup2 rw\n"
    files = {"/sys/fs/cgroup/cpu.max": "200000 100000"}
    assert cgroup_cpu_limit(mounts, "0::/docker/abc\n", reader(files)) == 2.0
    # A cgroup namespace shows the path as "/": the same directory.
    assert cgroup_cpu_limit(mounts, "0::/\n", reader(files)) == 2.0


@pytest.mark.parametrize(("quota", "expected"), [("-1", None), ("100000", 1.0), ("250000", 2.5)])
def test_cgroup_v1_quota(quota, expected):
    cgroups = "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/\n"
    base = "/sys/fs/cgroup/cpu,cpuacct/docker/abc"
    files = {f"{base}/cpu.cfs_quota_us": quota, f"{base}/cpu.cfs_period_us": "100000"}
    assert cgroup_cpu_limit(V1_MOUNTS, cgroups, reader(files)) == expected


def test_no_cgroup_files_no_limit():
    assert cgroup_cpu_limit("", "", reader({})) is None
    assert cgroup_cpu_limit(V1_MOUNTS, "2:cpu,cpuacct:/\n", reader({})) is None
    assert cgroup_cpu_limit("not a mount line\n", "0::/\n", reader({})) is None


def test_usable_processors_is_the_affinity_capped_by_the_quota(monkeypatch):
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    monkeypatch.setattr(processors, "cgroup_cpu_limit", lambda *args: None)
    assert usable_processors() == affinity
    monkeypatch.setattr(processors, "cgroup_cpu_limit", lambda *args: 1.5)
    assert usable_processors() == 1  # one and a half CPUs: not two processes' worth
    monkeypatch.setattr(processors, "cgroup_cpu_limit", lambda *args: 0.2)
    assert usable_processors() == 1
    monkeypatch.setattr(processors, "cgroup_cpu_limit", lambda *args: 64.0)
    assert usable_processors() == affinity
