"""A camera on a replayed recording next to a plain loop feeding ``evtop.State``.

    python benchmarks/bench_camera.py [--tasks N] [--runs R]

One recording of the generated stream (benchmarks/streams.py) in evtop's schema, as
``--record`` writes it: a session line, then one line per event. Two programs read it:

- loop: each line through stdlib ``json.loads`` and its event into ``State.event``, the
  least any script replaying a recording does;
- camera: ``evtop --replay FILE --speed max -c null_camera.Camera``, a camera that only
  notes the State's event count (every second, and at the end).

Each run is a fresh interpreter, the two alternating, R runs each; the best counts.
Reported in CPU time (all threads; on a shared machine wall time mostly measures the
neighbours): the whole process, and the time after each program's imports (the
camera's from ``evtop.cli.main`` being called to its return). The camera's final
snapshot must have seen every event the loop applied, or the run fails.

The interpreters import from compiled bytecode, as an installed evtop does (pip
compiles it on install): the children write it to a cache of their own, filled by an
untimed first run of each side, whatever ``PYTHONDONTWRITEBYTECODE`` says. With
``--no-bytecode-cache`` every run compiles the modules it imports from source instead,
which costs the camera, which imports more modules, more.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


def loop(path: str) -> int:
    from evtop import State

    state = State()
    with open(path, "rb") as lines:
        for line in lines:
            record = json.loads(line)
            if record["kind"] == "event":
                state.event(record["event"])
    return state.event_count


def camera(path: str) -> int:
    from evtop.cli import main

    if main(["--replay", path, "--speed", "max", "-c", "null_camera.Camera"]) != 0:
        raise SystemExit("the camera run failed")
    import null_camera  # loaded by evtop from the current directory

    return null_camera.Camera.events


def child(side: str, path: str) -> None:
    """Time one side after its imports: (seconds, events) as JSON on the last line."""
    if side == "camera":
        import evtop.camera.mode
        import evtop.cli
        import evtop.record.replay
    else:
        import evtop  # noqa: F401
    start = time.process_time()
    events = {"loop": loop, "camera": camera}[side](path)
    print(json.dumps({"seconds": time.process_time() - start, "events": events}))


def write_recording(path: Path, tasks: int) -> int:
    from streams import make_stream

    from evtop.record.schema import event_line, session_line

    events = make_stream(tasks)
    with path.open("w") as out:
        out.write(session_line(events[0]["timestamp"], "redis://localhost:6379/0", "0.1.0") + "\n")
        for event in events:
            out.write(event_line(dict(event, local_received=event["timestamp"] + 0.001)) + "\n")
    return len(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=5, help="runs per side, alternating; the best counts")
    parser.add_argument(
        "--no-bytecode-cache", action="store_true", help="compile every module from source in every run"
    )
    parser.add_argument("--side", choices=["loop", "camera"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        child(args.side, args.file)
        return

    with tempfile.TemporaryDirectory(prefix="evtop-bench-") as tmp:
        path = Path(tmp) / "recording.jsonl"
        events = write_recording(path, args.tasks)
        env = dict(os.environ)
        if args.no_bytecode_cache:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        best: dict[str, dict[str, float]] = {}
        applied: set[int] = set()
        for run in range(args.runs + (0 if args.no_bytecode_cache else 1)):
            for side in ("loop", "camera"):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                done = subprocess.run(
                    [sys.executable, __file__, "--side", side, "--file", str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=HERE,
                    env=env,
                )
                if run == 0 and not args.no_bytecode_cache:
                    continue  # it filled the bytecode cache
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
                result = json.loads(done.stdout.strip().splitlines()[-1])
                applied.add(result["events"])
                runs = best.setdefault(side, {"process": cpu, "run": result["seconds"]})
                runs["process"], runs["run"] = min(runs["process"], cpu), min(runs["run"], result["seconds"])
        if applied != {events}:
            raise SystemExit(f"{events} events recorded, but applied: {sorted(applied)}")
    compiled = "compiled from source in every run" if args.no_bytecode_cache else "cached bytecode"
    print(f"{events} events of {args.tasks} tasks; best of {args.runs} per side, alternating; {compiled}")
    print(f"{'':28} {'loop':>8} {'camera':>8} {'ratio':>7}")
    for what, name in (("process", "whole process, CPU s"), ("run", "after imports, CPU s")):
        ratio = best["camera"][what] / best["loop"][what]
        print(f"{name:28} {best['loop'][what]:8.3f} {best['camera'][what]:8.3f} {ratio:6.2f}x")
    print("target: camera <= 1.2x the loop")


if __name__ == "__main__":
    main()
