"""The live TUI with 100,000 and 1,000,000 tasks retained, measured from outside.

    python benchmarks/bench_tui.py [--tasks 100000] [--big 1000000] [--rounds 3] [--old REV]

Each implementation (this checkout, and ``--old``: a git revision exported to a temporary
directory) runs as a real ``python -m evtop`` on a pseudo-terminal whose output feeds
pyte, a terminal emulator. The task cap is ``--max-tasks``, checked on the header (a
launcher that forced it once stopped working unnoticed, and the keys and the flood were
then measured at the default 10,000). Recordings are generated once
(benchmarks/streams.py, ~3.3 events per task, eight workers whose batches arrive out of
clock order) and cached under /tmp.

1. Keys, after replaying ``--tasks`` tasks with that cap: the time from writing a key
   to the pty until the bytes that show its effect arrive (``s``: the view line names the
   next sort column; ``S``: the arrow turns; ``j``: the highlighted row moves down). The
   first round of ``s`` builds each order's index (cold); later rounds reuse it (warm).
2. Idle CPU of the process over 10 s once the replay finished (/proc/PID/stat).
3. A flood: ``--big`` tasks replayed at ``--speed max`` with the ``--tasks`` cap, events/s
   until the screen says the replay finished, against ``--dump`` on the same file (to
   /dev/null), and the CPU time each took per event (which the machine's other load
   moves less); ``S`` pressed every half second meanwhile, its latency as in 1.
4. Frame cost at ``--big`` tasks, timed in process (refresh plus urwid render, with the
   live loop's budget of row updates where it has one): idle, and after 100, 1,000 and
   5,000 new events; and the catching up the loop does after such a frame, between keys.
   Then a filter typed a letter at a time (``task_1``, ``state:su``, then ``state:su``
   again sorted by runtime), each letter applied and drawn: the time to its first
   screen, then to its whole count (a filter over many rows is counted in steps between
   keys, as the live loop does them, without the pauses it leaves to the event thread;
   each step is timed with its redraw), and the steps freeing what the letter dropped
   (an index kept before, let go of a piece at a time between keys).

Prints medians and ranges; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import resource
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pyte

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO)]

from streams import make_stream  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "evtop-bench-tui"
COLS, ROWS = 120, 40
SORTS = ("time", "name", "state", "worker", "received", "runtime")
FINISHED = "replay finished"
#: Seconds a key's effect may take to show.
KEY_DEADLINE = 30.0


def recording(tasks: int) -> Path:
    """A replayable recording of ``tasks`` tasks (plain JSON lines), made once."""
    from evtop.record.schema import event_line

    path = CACHE / f"stream-{tasks}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    partial = path.with_suffix(".part")
    start, clock = time.time() - 3600, 0
    with partial.open("w") as out:
        for first in range(0, tasks, 50_000):
            chunk = make_stream(min(50_000, tasks - first), seed=first + 1, start=start)
            for event in chunk:
                event["clock"] += clock
                event["local_received"] = event["timestamp"]
                out.write(event_line(event) + "\n")
            clock, start = chunk[-1]["clock"], chunk[-1]["timestamp"]
    partial.rename(path)
    return path


def events_in(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for _ in lines)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Term:
    """``python -m evtop`` on a pty; output read on demand, each chunk's arrival timed."""

    def __init__(self, source: Path, cap: int, *args: str) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(source)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "evtop", "--max-tasks", str(cap), *args],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=source,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)

    def pump(self, timeout: float) -> float | None:
        """Read what arrived within ``timeout``; the arrival time, None if nothing came."""
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return None
        data = os.read(self.master, 1 << 20)
        arrived = time.perf_counter()
        self.stream.feed(data)
        return arrived

    def line(self, row: int) -> str:
        return self.screen.display[row]

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def until(self, done: Callable[[], bool], timeout: float, what: str) -> float:
        """Pump until ``done()``; the arrival time of the bytes that made it true."""
        deadline = time.perf_counter() + timeout
        while not done():
            left = deadline - time.perf_counter()
            if left <= 0 or self.process.poll() is not None:
                raise SystemExit(f"timed out waiting for {what}:\n{self.text()}")
            arrived = self.pump(left)
            if arrived is not None and done():
                return arrived
        return time.perf_counter()

    def settle(self, quiet: float = 0.3) -> None:
        """Read until nothing arrives for ``quiet`` seconds."""
        while self.pump(quiet) is not None:
            pass

    def key(self, key: str, done: Callable[[], bool], timeout: float = KEY_DEADLINE) -> float:
        """Seconds from writing ``key`` until the screen satisfies ``done``."""
        sent = time.perf_counter()
        os.write(self.master, key.encode())
        return self.until(done, timeout, f"the effect of {key!r}") - sent

    def selected_row(self) -> int | None:
        """Screen row of the highlighted table row (the selection has a background)."""
        for y in range(4, ROWS - 2):
            cells = self.screen.buffer[y]
            if cells[0].bg != "default" or cells[1].bg != "default":
                return y
        return None

    def close(self) -> None:
        if self.process.poll() is None:
            os.write(self.master, b"q")
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        os.close(self.master)


def view_line(term: Term) -> str:
    return term.line(2)


def sort_shown(term: Term) -> tuple[str, str] | None:
    """The sort column's title as shown (one word or more: ``LAST EVENT``) and its arrow."""
    match = re.search(r"sort: ([^▲▼]+?) ([▲▼])", view_line(term))
    return (match.group(1), match.group(2)) if match else None


def events_shown(term: Term) -> int | None:
    match = re.search(r"events ([\d,]+)", term.line(1))
    return int(match.group(1).replace(",", "")) if match else None


def press(term: Term, key: str) -> float:
    """Latency of ``s``, ``S``, ``j`` or ``k`` (``j``, ``k``: the highlight moves)."""
    if key in "jk":
        before = term.selected_row()
        return term.key(key, lambda: term.selected_row() not in (None, before))
    column, arrow = sort_shown(term) or ("?", "?")
    if key == "s":  # the next column (each has its own first direction)
        return term.key(key, lambda: (sort_shown(term) or (column,))[0] != column)
    wanted = (column, "▲" if arrow == "▼" else "▼")
    return term.key(key, lambda: sort_shown(term) == wanted)


def key_rounds(term: Term, rounds: int) -> dict[str, list[float]]:
    """Rounds of s x6 (a whole cycle), S S, j j j k k k; ``s`` of the first round is cold."""
    out: dict[str, list[float]] = {"s cold": [], "s warm": [], "S": [], "j, k": []}
    for round_ in range(rounds):
        for key in ["s"] * len(SORTS) + ["S", "S", "j", "j", "j", "k", "k", "k"]:
            latency = press(term, key)
            name = ("s cold" if round_ == 0 else "s warm") if key == "s" else "j, k" if key in "jk" else key
            out[name].append(latency)
            term.settle(0.15)
    return out


def replayed(source: Path, path: Path, cap: int) -> Term:
    term = Term(source, cap, "--replay", str(path), "--speed", "max")
    term.until(lambda: FINISHED in term.line(0), 1800, "the end of the replay")
    term.settle(1.0)
    check_cap(term, cap)
    return term


def check_cap(term: Term, cap: int) -> None:
    """Stop unless the header shows the task cap asked for ("tasks 1,234/100,000")."""
    shown = re.search(r"tasks [\d,]+/([\d,]+)", term.line(1))
    if shown is None or int(shown.group(1).replace(",", "")) != cap:
        raise SystemExit(f"the TUI does not hold {cap:,} tasks: {term.line(1).strip()!r}")


def idle_cpu(pid: int, seconds: float = 10.0) -> float:
    before, began = cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.perf_counter() - began)


def dump_rate(source: Path, path: Path, events: int) -> tuple[float, float]:
    """Events/s of ``--dump`` to /dev/null, and its CPU seconds."""
    cpu = children_cpu()
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "evtop", "--replay", str(path), "--speed", "max", "--dump"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(source)},
        cwd=source,
        check=True,
    )
    return events / (time.perf_counter() - began), children_cpu() - cpu


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def flood(source: Path, path: Path, cap: int, events: int) -> dict[str, object]:
    """The TUI replaying ``path`` at max speed: events/s, and keys answered meanwhile."""
    began = time.perf_counter()
    term = Term(source, cap, "--replay", str(path), "--speed", "max")
    latencies: list[float] = []
    #: (seconds since the start, latency) of each key, to tell when the slow ones came.
    when: list[tuple[float, float]] = []
    try:
        term.until(lambda: (events_shown(term) or 0) > 0, 120, "the first events")
        check_cap(term, cap)
        next_key = time.perf_counter()
        while FINISHED not in term.line(0):
            term.pump(max(next_key - time.perf_counter(), 0))
            if time.perf_counter() < next_key or FINISHED in term.line(0) or sort_shown(term) is None:
                continue
            try:
                latencies.append(press(term, "S"))
            except SystemExit:  # not shown within the deadline: counted as that long
                latencies.append(KEY_DEADLINE)
            when.append((time.perf_counter() - began, latencies[-1]))
            next_key = time.perf_counter() + 0.5
        seconds = time.perf_counter() - began
        cpu = cpu_seconds(term.process.pid)
    finally:
        term.close()
    slowest = sorted(when, key=lambda pair: -pair[1])[:5]
    return {"rate": events / seconds, "seconds": seconds, "cpu": cpu, "keys": latencies, "slowest": slowest}


#: Run in a fresh interpreter on the implementation under test: argv = tasks.
FRAMES = """
import json, sys, time
TYPED = ("task_1", "state:su")
SORTED = "runtime"
from streams import make_stream
from evtop.broker.status import ConnectionStatus
from evtop.events.state import State
from evtop.events.stats import IngestStats
from evtop.tui import mode
from evtop.tui.actions import ACTIONS
from evtop.tui.app import App

tasks = int(sys.argv[1])
state = State(max_tasks_in_memory=tasks)
app = App(state, IngestStats(), ConnectionStatus("replay of bench"), replay=True, actions=ACTIONS)
size = app.size = (120, 40)
rows = getattr(app, "rows", None)
feed = state.event if rows is None else rows.feed
#: What the live loop does after each refresh (the old implementation has nothing).
settle = getattr(mode, "settle_garbage", lambda: None)
#: The live loop's budgets of row updates per refresh and per step of catching up after
#: one (the old implementation has none).
budget = getattr(mode, "SYNC_BUDGET", None)
step = getattr(mode, "CATCH_UP_BUDGET", None)
#: A step of that catching up, as the loop does it (implementations before: the pass
#: only, freeing nothing between keys).
catch_up = getattr(app, "catch_up", None)
dropped = getattr(rows, "dropped", ())
clock = 0
start = time.time() - 3600


def events(count, seed):
    global clock, start
    chunk = make_stream(count, seed=seed, start=start)
    for event in chunk:
        event["clock"] += clock
        event["local_received"] = event["timestamp"]
    clock, start = chunk[-1]["clock"], chunk[-1]["timestamp"]
    return chunk


for first in range(0, tasks, 50_000):
    for index, event in enumerate(events(min(50_000, tasks - first), first + 1)):
        feed(event)
        if rows is not None and index % 20_000 == 0:  # as the live loop would, twice a second
            app.refresh()
            settle()
held = None


def frame():
    # Refresh and render as the live loop does, then what it runs after each refresh
    # (gc.freeze), then the catching up it does between refreshes when the budget left
    # rows behind: its total and how many steps (keys are read between two steps).
    global held
    began = time.perf_counter()
    app.refresh() if budget is None else app.refresh(budget)
    held = app.render(size)  # the screen keeps the last canvas, so unchanged parts stay cached
    drawn = time.perf_counter()
    settle()
    frozen = time.perf_counter()
    steps = 0
    while step is not None and rows.behind:
        rows.sync(step)
        settle()
        steps += 1
    caught = time.perf_counter()
    return (drawn - began) * 1e3, (frozen - drawn) * 1e3, (caught - frozen) * 1e3, steps


frame()
out = {"idle": [frame() for _ in range(10 if rows is not None else 2)]}
more = events(50_000, 7)
for count in (100, 1_000, 5_000):
    out[str(count)] = []
    for _ in range(5 if rows is not None else 1):
        for event in more[:count]:
            feed(event)
        del more[:count]
        out[str(count)].append(frame())
from evtop.tui.actions import apply_filter

typed = {}


def type_letters(text, label=""):
    # ``text`` typed a letter at a time, each letter applied (then cleared).
    global held
    for end in range(1, len(text) + 1):
        began = time.perf_counter()
        apply_filter(app, text[:end])
        held = app.render(size)
        shown = time.perf_counter()
        # Then the rest of its pass, as the live loop does it between keys (the old
        # implementation does it whole before drawing): steps, each redrawing the count;
        # then the steps freeing what the letter dropped (an index kept before).
        steps, longest = 0, 0.0
        while getattr(rows, "counting", False):
            started = time.perf_counter()
            if catch_up is None:
                rows.sync(step)
                app.show_counting()
            else:
                catch_up(step)
            held = app.render(size)
            settle()
            steps, longest = steps + 1, max(longest, time.perf_counter() - started)
        counted = time.perf_counter()
        frees, free_longest = 0, 0.0
        while len(dropped):
            started = time.perf_counter()
            catch_up(step)
            held = app.render(size)
            settle()
            frees, free_longest = frees + 1, max(free_longest, time.perf_counter() - started)
        typed[text[:end] + label] = [
            (shown - began) * 1e3, (counted - began) * 1e3, len(app.table.items), steps, longest * 1e3,
            frees, free_longest * 1e3
        ]
        settle()
    apply_filter(app, "")
    settle()


for text in TYPED:
    type_letters(text)
# The last one again in an order other than time (a number column, highest first: the
# costliest index to build), that order shown whole before the filter is typed.
app.view = app.view.pick_sort(SORTED)
app.show_table()
rows.sync()
settle()
type_letters(TYPED[-1], f" by {SORTED}")
print(json.dumps({"frames": out, "typed": typed}))
"""


def frames(source: Path, tasks: int) -> dict[str, dict[str, list[float]]]:
    result = subprocess.run(
        [sys.executable, "-c", FRAMES, str(tasks)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{source}:{REPO / 'benchmarks'}"},
        cwd=source,
        check=True,
    )
    frames: dict[str, dict[str, list[float]]] = json.loads(result.stdout.splitlines()[-1])
    return frames


def export(revision: str) -> Path:
    """The tree of ``revision`` in a temporary directory (the implementation to compare).

    Cached by commit, not by the name given: a branch moves, and a tree exported under
    its name earlier would be measured in place of the branch as it is now.
    """
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=REPO, capture_output=True, text=True
    )
    if commit.returncode:
        raise SystemExit(f"bench_tui: --old {revision}: not a git revision of {REPO}")
    target = CACHE / f"tree-{commit.stdout.strip()}"
    if not target.exists():
        partial = CACHE / f"partial-{commit.stdout.strip()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", revision], cwd=REPO, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive.stdout, check=True)
        partial.rename(target)  # whole or not at all: an interrupted export is never reused
    return target


def spread(values: list[float], scale: float = 1e3) -> str:
    if not values:
        return "-"
    scaled = sorted(v * scale for v in values)
    text = f"median {statistics.median(scaled):7.1f}  range {scaled[0]:.1f}-{scaled[-1]:.1f}  n={len(scaled)}"
    if len(scaled) >= 20:
        text += f"  p90 {scaled[len(scaled) * 9 // 10]:.1f}  p99 {scaled[len(scaled) * 99 // 100]:.1f}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks retained for keys, idle, flood")
    parser.add_argument("--big", type=int, default=1_000_000, help="tasks for the frame cost and the flood")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of keys (the first builds each order)")
    parser.add_argument("--old", help="also measure this git revision (e.g. main)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: keys,flood,frames")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    sources = {"new": REPO} | ({f"old ({args.old})": export(args.old)} if args.old else {})
    small, big = recording(args.tasks), recording(args.big)
    print(f"load average at the start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    for name, source in sources.items():
        print(f"== {name}: {source}")
        if "keys" not in skip:
            term = replayed(source, small, args.tasks)
            try:
                print(f"  header: {term.line(1).strip()}")
                rounds = key_rounds(term, args.rounds)
                for key, values in rounds.items():
                    print(f"  key {key:<7} {spread(values)} ms")
                print(f"  every key   {spread([v for values in rounds.values() for v in values])} ms")
                print(f"  idle CPU over 10 s: {idle_cpu(term.process.pid) * 100:.1f}% of a core")
            finally:
                term.close()
        if "flood" not in skip:
            events = events_in(big)
            dump, dump_cpu = dump_rate(source, big, events)
            tui = flood(source, big, args.tasks, events)
            print(
                f"  flood of {events:,} events, cap {args.tasks:,}: --dump {dump:,.0f}/s, "
                f"TUI {tui['rate']:,.0f}/s ({tui['rate'] / dump:.2f}x of --dump)"  # type: ignore[operator]
            )
            # CPU time moves less with the machine's other load than the rates do.
            tui_cpu: float = tui["cpu"]  # type: ignore[assignment]
            print(
                f"    CPU per event: --dump {dump_cpu / events * 1e6:.1f} us, "
                f"TUI {tui_cpu / events * 1e6:.1f} us ({dump_cpu / tui_cpu:.2f}x)"
            )
            keys: list[float] = tui["keys"]  # type: ignore[assignment]
            within = sum(latency <= 0.2 for latency in keys) / max(len(keys), 1)
            print(f"  keys during the flood: {spread(keys)} ms; {within:.1%} within 200 ms")
            slowest = ", ".join(f"{lag * 1e3:.0f} ms at {at:.0f} s" for at, lag in tui["slowest"])  # type: ignore[attr-defined]
            print(f"    slowest: {slowest} (of {tui['seconds']:.0f} s)")
        if "frames" not in skip:
            measured = frames(source, args.big)
            for count, values in measured["frames"].items():
                label = "idle" if count == "idle" else f"after {int(count):,} events"
                drawn, frozen, caught, steps = zip(*values, strict=True)
                print(f"  frame at {args.big:,} tasks, {label:<18} {spread(list(drawn), 1)} ms")
                print(f"    {'+ gc.freeze after it':<36} {spread(list(frozen), 1)} ms")
                if any(steps):
                    print(
                        f"    {'+ catching up after it':<36} {spread(list(caught), 1)} ms"
                        f" in {min(steps)}-{max(steps)} steps"
                    )
            print(
                f"  filter typed at {args.big:,} tasks, per letter: ms to the first screen / "
                "to the whole count (rows matching; steps between keys, the longest in ms; then "
                "steps freeing what it dropped)"
            )
            for text, values in measured["typed"].items():
                shown, counted, matching, steps, longest, frees, free_longest = values
                freed = f"; freed in {frees:.0f} steps, longest {free_longest:.1f} ms" if frees else ""
                print(
                    f"    {text!r:<23} {shown:7.1f} / {counted:7.1f} ms  ({matching:,.0f}; "
                    f"{steps:.0f} steps, longest {longest:.1f} ms{freed})"
                )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
