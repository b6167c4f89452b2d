"""The control command table: validation before sending, and the exact wire arguments.

The expected ``arguments`` are what Celery's own client sends (celery/app/control.py);
workers reply TypeError to any extra argument and misbehave on values
they do not check, so both directions are pinned here.
"""

from __future__ import annotations

import pytest

from evtop.control import COMMANDS, Kind, build_request, command
from evtop.control import arguments as check
from evtop.control.commands import CONFIRM_NOTE

UUID1 = "d9078da5-9915-40a0-bfa1-392c7bde42ed"
UUID2 = "7993b0aa-1f0b-4780-9af0-c47c0858b3f2"


@pytest.mark.parametrize(
    ("name", "values", "method", "arguments"),
    [
        ("ping", {}, "ping", {}),
        (
            "revoke",
            {"task_ids": [UUID1]},
            "revoke",
            {"task_id": UUID1, "terminate": False, "signal": "SIGTERM"},
        ),
        (
            "revoke",
            {"task_ids": UUID1},
            "revoke",
            {"task_id": UUID1, "terminate": False, "signal": "SIGTERM"},
        ),
        (
            "revoke",
            {"task_ids": [UUID1, UUID2, UUID1], "terminate": True, "signal": "kill"},
            "revoke",
            {"task_id": [UUID1, UUID2], "terminate": True, "signal": "SIGKILL"},
        ),
        (
            "terminate",
            {"task_ids": [UUID1]},
            "revoke",
            {"task_id": UUID1, "terminate": True, "signal": "SIGTERM"},
        ),
        (
            "terminate",
            {"task_ids": [UUID1], "signal": "9"},
            "revoke",
            {"task_id": UUID1, "terminate": True, "signal": "SIGKILL"},
        ),
        (
            "rate_limit",
            {"task_name": "proj.add", "rate": "10 / m"},
            "rate_limit",
            {"task_name": "proj.add", "rate_limit": "10/m"},
        ),
        (
            "rate_limit",
            {"task_name": "proj.add", "rate": "5"},
            "rate_limit",
            {"task_name": "proj.add", "rate_limit": "5"},
        ),
        (
            "rate_limit",
            {"task_name": "proj.add", "remove": True},
            "rate_limit",
            {"task_name": "proj.add", "rate_limit": None},
        ),
        (
            "time_limit",
            {"task_name": "t", "soft": "60", "hard": "120"},
            "time_limit",
            {"task_name": "t", "hard": 120.0, "soft": 60.0},
        ),
        (
            "time_limit",
            {"task_name": "t", "soft": "none", "hard": "5"},
            "time_limit",
            {"task_name": "t", "hard": 5.0, "soft": None},
        ),
        (
            "time_limit",
            {"task_name": "t", "soft": 2},
            "time_limit",
            {"task_name": "t", "hard": None, "soft": 2.0},
        ),
        ("enable_events", {}, "enable_events", {}),
        ("disable_events", {}, "disable_events", {}),
        ("shutdown", {}, "shutdown", {}),
        ("pool_grow", {}, "pool_grow", {"n": 1}),
        ("pool_shrink", {"n": "3"}, "pool_shrink", {"n": 3}),
        ("autoscale", {"max": "10", "min": "0"}, "autoscale", {"max": 10, "min": 0}),
        (
            "add_consumer",
            {"queue": "q"},
            "add_consumer",
            {"queue": "q", "exchange": None, "exchange_type": "direct", "routing_key": None},
        ),
        (
            "add_consumer",
            {"queue": "q", "exchange": "ex", "exchange_type": "Topic", "routing_key": "media.*"},
            "add_consumer",
            {"queue": "q", "exchange": "ex", "exchange_type": "topic", "routing_key": "media.*"},
        ),
        ("cancel_consumer", {"queue": "q"}, "cancel_consumer", {"queue": "q"}),
        ("stats", {}, "stats", {}),
        ("active", {}, "active", {"safe": None}),
        ("reserved", {}, "reserved", {}),
        ("scheduled", {}, "scheduled", {}),
        ("revoked", {}, "revoked", {}),
        ("registered", {}, "registered", {"taskinfoitems": []}),
        (
            "registered",
            {"taskinfoitems": ["rate_limit", "time_limit,soft_time_limit"]},
            "registered",
            {"taskinfoitems": ["rate_limit", "time_limit", "soft_time_limit"]},
        ),
        ("active_queues", {}, "active_queues", {}),
        ("query_task", {"ids": [UUID1, UUID2]}, "query_task", {"ids": [UUID1, UUID2]}),
    ],
)
def test_wire_arguments_match_celerys_client(name, values, method, arguments):
    request = build_request(name, values)
    assert request.method == method
    assert dict(request.arguments) == arguments


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("revoke", {}, "TASK_ID is required"),
        ("revoke", {"task_ids": [""]}, "task id is empty"),
        ("revoke", {"task_ids": ["a b"]}, "spaces"),
        ("revoke", {"task_ids": [UUID1], "signal": "KILL"}, "--signal only applies with --terminate"),
        ("terminate", {"task_ids": [UUID1], "signal": "sigfoo"}, "unknown signal"),
        ("terminate", {"task_ids": [UUID1], "signal": "10"}, "unknown signal"),  # USR1 differs by OS
        ("rate_limit", {"task_name": "t"}, "give either RATE or --remove"),
        ("rate_limit", {"task_name": "t", "rate": "10/m", "remove": True}, "give either RATE or --remove"),
        ("rate_limit", {"task_name": "t", "rate": "abc"}, "invalid rate"),
        ("rate_limit", {"task_name": "t", "rate": "1/x"}, "unknown unit"),
        ("rate_limit", {"task_name": "t", "rate": "-5/m"}, "invalid rate"),
        ("rate_limit", {"task_name": "t", "rate": "nan/s"}, "invalid rate"),
        ("rate_limit", {"task_name": "t", "rate": "inf"}, "invalid rate"),
        ("rate_limit", {"task_name": "t", "rate": "0"}, "--remove"),
        ("rate_limit", {"task_name": "t", "rate": ""}, "--remove"),
        ("rate_limit", {"task_name": "t", "rate": "0/m"}, "--remove"),
        ("rate_limit", {"task_name": "", "rate": "1"}, "task name is empty"),
        ("time_limit", {"task_name": "t", "soft": "10", "hard": "5"}, "must not be below the soft limit"),
        ("time_limit", {"task_name": "t", "soft": "0"}, "more than 0"),
        ("time_limit", {"task_name": "t", "soft": "-1"}, "more than 0"),
        ("time_limit", {"task_name": "t", "soft": "nan"}, "more than 0"),
        ("time_limit", {"task_name": "t", "soft": "inf"}, "more than 0"),
        ("time_limit", {"task_name": "t", "soft": "ten"}, "not a number"),
        ("pool_grow", {"n": "0"}, "at least 1"),
        ("pool_grow", {"n": "-2"}, "at least 1"),
        ("pool_grow", {"n": "1.5"}, "not a whole number"),
        ("pool_shrink", {"n": True}, "whole number"),
        ("autoscale", {"max": "2", "min": "5"}, "must not be below MIN"),
        ("autoscale", {"max": "0", "min": "0"}, "at least 1"),
        ("add_consumer", {"queue": "q", "exchange_type": "weird"}, "unknown exchange type"),
        ("cancel_consumer", {"queue": " "}, "queue name is empty"),
        ("query_task", {"ids": []}, "TASK_ID is required"),
        ("ping", {"extra": 1}, "takes no extra"),
    ],
)
def test_bad_values_are_refused_before_sending(name, values, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        build_request(name, values)


@pytest.mark.parametrize("spelling", ["KILL", "kill", "SIGKILL", "sigkill", "9", 9, " Kill "])
def test_signal_spellings(spelling):
    assert check.signal_name(spelling) == "SIGKILL"


def test_no_argument_commands_send_no_arguments():
    """enable_events, disable_events and active_queues take no kwargs on the worker."""
    for name in ("enable_events", "disable_events", "active_queues", "ping", "stats", "shutdown"):
        assert build_request(name).arguments == {}


def test_destructive_and_replies():
    assert build_request("terminate", task_ids=[UUID1]).destructive
    assert build_request("shutdown").destructive
    assert build_request("revoke", task_ids=[UUID1], terminate=True).destructive
    assert not build_request("revoke", task_ids=[UUID1]).destructive
    assert not build_request("pool_shrink").destructive
    assert not build_request("shutdown").replies
    assert all(c.replies for c in COMMANDS.values() if c.name != "shutdown")
    destructive = [
        c.cli_name for c in COMMANDS.values() if c.destructive({"terminate": True, "signal": None})
    ]
    assert destructive == ["revoke", "terminate", "shutdown"]
    for name in ("terminate", "shutdown", "revoke --terminate"):
        assert name in CONFIRM_NOTE


def test_describe_says_what_and_how():
    text = build_request("terminate", task_ids=[UUID1], signal="KILL").describe()
    assert UUID1 in text and "SIGKILL" in text
    assert "shut down" in build_request("shutdown").describe()


def test_table_is_complete_and_consistent():
    wanted = {
        "revoke",
        "terminate",
        "rate_limit",
        "time_limit",
        "ping",
        "enable_events",
        "disable_events",
        "shutdown",
        "pool_grow",
        "pool_shrink",
        "autoscale",
        "add_consumer",
        "cancel_consumer",
        "stats",
        "active",
        "reserved",
        "scheduled",
        "revoked",
        "registered",
        "active_queues",
        "query_task",
    }
    assert set(COMMANDS) == wanted
    for cmd in COMMANDS.values():
        assert command(cmd.cli_name) is cmd and command(cmd.name) is cmd
        assert cmd.summary and cmd.kind in (Kind.CONTROL, Kind.INSPECT)
        names = [p.name for p in cmd.params]
        assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="unknown control command"):
        command("explode")
