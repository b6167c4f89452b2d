"""--tz: zone names, the local zone's name, and what is refused."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

import pytest

from evtop.dump.format import TextFormatter
from evtop.view.cells import clock_text, datetime_text
from evtop.zones import UTC, local_zone, parse_zone
from tests.support.events import T0, task_event


def test_utc_and_area_city_zones():
    assert parse_zone("UTC") is UTC and parse_zone("utc") is UTC
    tokyo = parse_zone("Asia/Tokyo")
    assert tokyo.name == "Asia/Tokyo"
    assert clock_text(T0, tokyo) == "16:22:22" and clock_text(T0) == "07:22:22"
    assert datetime_text(T0 + 0.25, tokyo) == "2026-11-23 16:22:22.250000 JST"
    paris = parse_zone("Europe/Paris")  # summer and winter time by the date shown
    assert datetime_text(T0, paris).endswith("08:22:22.000000 CET")
    assert datetime_text(T0 - 120 * 86400, paris).endswith(" CEST")


@pytest.mark.parametrize("text", ["Mars/Base", "", "../../etc/passwd", "Europe", "/etc/localtime"])
def test_what_is_not_a_zone_is_refused_with_the_reason(text):
    with pytest.raises(ValueError, match="is not a time zone here: give local, UTC or an Area/City"):
        parse_zone(text)


def test_the_local_zone_is_named_from_tz_then_from_the_system_link(tmp_path):
    assert local_zone({"TZ": ":Europe/Berlin"}).name == "Europe/Berlin"
    link = tmp_path / "localtime"
    os.symlink("/usr/share/zoneinfo/America/Chicago", link)
    assert local_zone({}, str(link)).name == "America/Chicago"
    assert parse_zone("local", {"TZ": "Asia/Tokyo"}).name == "Asia/Tokyo"
    assert local_zone({}, str(tmp_path / "missing")).name  # an abbreviation at worst, never empty
    # A TZ the tz database does not know is not repeated as if it were a zone.
    assert local_zone({"TZ": "Nowhere/Atlantis"}).name != "Nowhere/Atlantis"


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/St_Johns", "Europe/London"])
@pytest.mark.parametrize("offset", [0.0, 0.000001, 0.5, 0.9999996, 86400 * 200 + 0.329845])
def test_a_dump_in_a_zone_is_datetimes_own_rendering_there(zone, offset):
    parsed = parse_zone(zone)
    event = task_event("task-started", "u1", sent=T0 + offset)
    line = TextFormatter(zone=parsed).line(event)
    expected = str(datetime.fromtimestamp(T0 + offset, timezone.utc).astimezone(parsed.tzinfo))
    assert line.startswith(f"celery@h [{expected}] task started: ")


def test_without_a_tz_database_the_error_says_what_to_install(monkeypatch, tmp_path):
    import zoneinfo

    monkeypatch.setitem(sys.modules, "tzdata", None)  # nor the pip package's fallback
    zoneinfo.reset_tzpath(to=[str(tmp_path)])  # an empty directory: a slim image
    zoneinfo.ZoneInfo.clear_cache()
    try:
        with pytest.raises(ValueError, match="this system has none: install tzdata"):
            parse_zone("Europe/Paris")
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()
    assert parse_zone("Europe/Paris").name == "Europe/Paris"
