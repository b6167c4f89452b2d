"""Finding sinks by scheme: entry points, built-ins as a fallback, broken plugins, --list-sinks."""

from __future__ import annotations

import configparser
import sys
import types
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from evtop.camera.sinks.base import Sink, SinkURLError
from evtop.camera.sinks.registry import BUILTINS, GROUP, Registry, render_listing
from evtop.camera.sinks.sqlite import SQLiteSink

ROOT = Path(__file__).resolve().parents[4]


class EchoSink(Sink):
    description = "a plugin sink"
    example = "echo://x"

    def write(self, snapshot):
        pass


class NeedsMissing(Sink):
    description = "needs what is not installed"
    requires = ("evtop_no_such_module_anywhere",)
    extra = "imaginary"


@pytest.fixture
def plugins(monkeypatch):
    """A module of plugin classes, importable by entry-point value."""
    module = types.ModuleType("evtop_test_plugins")
    module.EchoSink = EchoSink
    module.NeedsMissing = NeedsMissing
    module.NotASink = dict
    monkeypatch.setitem(sys.modules, "evtop_test_plugins", module)
    return module


def point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=GROUP)


def test_every_builtin_is_declared_in_setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    declared = dict(
        line.replace(" ", "").split("=", 1)
        for line in config["options.entry_points"][GROUP].strip().splitlines()
    )
    assert declared == BUILTINS


def test_a_plugin_is_found_by_its_scheme_like_a_builtin(plugins):
    registry = Registry([point("echo", "evtop_test_plugins:EchoSink")])
    assert registry.schemes == ["echo", "jsonl", "postgresql", "prometheus", "sqlite"]
    sink = registry.create("echo://anything")
    assert isinstance(sink, EchoSink) and sink.url == "echo://anything"
    assert registry.load("ECHO") is EchoSink


def test_builtins_missing_from_the_metadata_still_work_and_listed_ones_come_from_it(plugins, tmp_path):
    registry = Registry([point("sqlite", "evtop_test_plugins:EchoSink")])
    assert registry.load("sqlite") is EchoSink  # the metadata wins
    assert Registry([]).load("sqlite") is SQLiteSink


def test_an_unknown_scheme_suggests_the_nearest(plugins):
    with pytest.raises(SinkURLError, match=r"no sink for postgres:// .*did you mean postgresql\?"):
        Registry([]).create("postgres://u@h/db")
    with pytest.raises(SinkURLError, match="expected SCHEME://"):
        Registry([]).create("just-a-path.db")


def test_a_known_scheme_without_its_slashes_says_what_is_missing(plugins):
    registry = Registry([])
    with pytest.raises(SinkURLError, match=r"^jsonl: needs // after the scheme, e\.g\. jsonl:///"):
        registry.create("jsonl:/tmp/snapshots.jsonl")
    with pytest.raises(SinkURLError, match=r"^SQLite: needs // after the scheme, e\.g\. sqlite:///"):
        registry.create("SQLite:evtop.db")
    assert registry.named("jsonl:/tmp/x") == "jsonl" and registry.named("sqlite:") == "sqlite"
    assert registry.named("sqlite:Camera") is None  # module:Class names a camera class
    assert registry.named("myapp:Camera") is None and registry.named("nocolon") is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("evtop_test_plugins:Missing", "cannot be loaded"),
        ("evtop_no_such_plugin_module:Sink", "cannot be loaded .ModuleNotFoundError"),
        ("evtop_test_plugins:NotASink", "is not a sink"),
    ],
)
def test_a_broken_plugin_is_an_error_about_that_plugin_only(plugins, value, problem):
    registry = Registry([point("broken", value)])
    with pytest.raises(SinkURLError, match=problem):
        registry.create("broken://x")
    assert registry.create("sqlite:///x.db").path == "x.db"
    rows = {row.scheme: row for row in registry.listing()}
    assert problem.split(" .")[0] in rows["broken"].problem and rows["sqlite"].problem is None


def test_two_plugins_claiming_one_scheme_are_refused_and_one_listed_twice_is_fine(plugins):
    same = point("echo", "evtop_test_plugins:EchoSink")
    assert Registry([same, same]).load("echo") is EchoSink
    with pytest.raises(SinkURLError, match="claimed by more than one plugin"):
        Registry([same, point("echo", "evtop_test_plugins:NeedsMissing")]).load("echo")


def test_a_sink_whose_extra_is_missing_says_how_to_install_it(plugins):
    registry = Registry([point("missing", "evtop_test_plugins:NeedsMissing")])
    with pytest.raises(
        SinkURLError, match=r"needs evtop_no_such_module_anywhere: pip install 'evtop\[imaginary\]'"
    ):
        registry.create("missing://x")


def test_the_listing_shows_each_scheme_and_whether_it_is_ready(plugins):
    rows = Registry(
        [point("echo", "evtop_test_plugins:EchoSink"), point("missing", "evtop_test_plugins:NeedsMissing")]
    ).listing()
    text = render_listing(rows)
    assert text.splitlines()[:2] == ["echo        a plugin sink", "            ready; e.g. echo://x"]
    assert "needs evtop_no_such_module_anywhere: pip install 'evtop[imaginary]'" in text
    assert "sqlite      SQLite file" in text


def test_a_builtin_whose_library_is_missing_loads_and_says_which_extra_to_install(monkeypatch):
    for name in ("psycopg", "prometheus_client"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    for name in ("evtop.camera.sinks.postgres", "evtop.camera.sinks.prometheus"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    rows = {row.scheme: row.problem for row in Registry([]).listing()}
    assert rows == {
        "jsonl": None,
        "postgresql": "needs psycopg: pip install 'evtop[postgres]'",
        "prometheus": "needs prometheus_client: pip install 'evtop[prometheus]'",
        "sqlite": None,
    }
    with pytest.raises(SinkURLError, match=r"needs psycopg: pip install 'evtop\[postgres\]'"):
        Registry([]).create("postgresql://u@h/db")
