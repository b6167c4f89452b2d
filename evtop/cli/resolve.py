"""From parsed arguments and the environment to one validated :class:`~evtop.options.Options`.

All cross-option rules live here (which modes combine, where the broker URL comes
from), so every mode starts from a consistent, already-checked configuration.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from evtop.broker.config import (
    DEFAULT_BROKER_URL,
    DEFAULT_QUEUE_MAX_LENGTH,
    DEFAULT_QUEUE_TTL,
    BrokerConfig,
    DurableQueue,
)
from evtop.broker.urls import BrokerURLError, broker_scheme, mask_url, validate_broker_url
from evtop.cli.parser import CONTROL_DEST, DOCTOR_DEST, QUEUES_DEST, FromEnvironment
from evtop.errors import UsageError
from evtop.options import (
    DEFAULT_CONTROL_TIMEOUT,
    DEFAULT_FREQUENCY,
    DEFAULT_LISTEN,
    DEFAULT_MAX_TASKS,
    DEFAULT_MAX_WORKERS,
    ControlOptions,
    Mode,
    Options,
    QueuesOptions,
    Reader,
    Source,
)


def _names_a_sink(camera: str) -> bool:
    """``-c jsonl:/tmp/x``: a sink URL short of its ``//`` (the sink says so), not a class.
    A camera class's path is told apart first: looking for the sinks costs a class camera's
    start-up some 30 ms of imports."""
    from evtop.camera.loader import is_class_path

    if is_class_path(camera):
        return False
    from evtop.camera.sinks.registry import Registry

    return Registry().named(camera) is not None


def _cameras(args: argparse.Namespace) -> tuple[str | None, tuple[str, ...]]:
    """``-c module.Class``, or the sink URLs of ``--sink`` and of ``-c URL``."""
    sinks = list(args.sinks)
    camera = args.camera
    if camera is not None and ("://" in camera or _names_a_sink(camera)):
        sinks.insert(0, camera)
        camera = None
    if camera is not None and sinks:
        raise UsageError(
            "-c module.Class and --sink are two different cameras: choose one"
            " (a camera class writes wherever it likes)"
        )
    repeated = sorted({url for url in sinks if sinks.count(url) > 1})
    if repeated:
        raise UsageError(f"--sink {mask_url(repeated[0])} is given twice")
    return camera, tuple(sinks)


def _mode(args: argparse.Namespace, cameras: tuple[str | None, tuple[str, ...]]) -> Mode:
    if getattr(args, "command", None) == "control":
        return Mode.CONTROL
    camera = cameras[0] is not None or bool(cameras[1])
    if getattr(args, "command", None) in ("doctor", "queues"):
        if args.dump or camera:
            raise UsageError(f"{args.command} is a mode of its own: drop --dump/--camera/--sink")
        return Mode(args.command)
    if args.dump and camera:
        raise UsageError("--dump and --camera/--sink are different modes: choose one")
    if args.dump:
        return Mode.DUMP
    if camera:
        return Mode.CAMERA
    return Mode.TUI


def _check_combinations(args: argparse.Namespace, mode: Mode, sinks: tuple[str, ...]) -> None:
    broker_given = args.broker is not None or args.app is not None or bool(args.transport_options)
    rules = (
        (args.json and mode is Mode.TUI, "--json only applies to --dump"),
        (args.demo and args.replay is not None, "--demo and --replay are both event sources: choose one"),
        (args.demo and broker_given, "--demo runs its own in-memory cluster: drop -b/-A/--transport-option"),
        (args.replay is not None and broker_given, "--replay reads a file: drop -b/-A/--transport-option"),
        (
            args.record is not None and args.replay is not None,
            "--replay already reads a recording: drop --record",
        ),
        (args.speed is not None and args.replay is None, "--speed only applies to --replay"),
        (
            args.reader is not None and mode in (Mode.DUMP, Mode.CONTROL, Mode.QUEUES),
            "--reader applies to the TUI, --camera, --sink and doctor",
        ),
        (
            args.reader == Reader.PROCESS and (args.demo or args.replay is not None),
            "--reader process reads a broker: --demo and --replay have their events in evtop's own process",
        ),
        (
            args.reader == Reader.PROCESS and args.queue is not None,
            "--reader process does not combine with --queue: a --queue event is acknowledged once"
            " applied, in evtop's own process",
        ),
        (args.wakeup and args.read_only, "--read-only publishes nothing: drop --wakeup"),
        (args.wakeup and args.replay is not None, "--wakeup needs a broker: --replay reads a file"),
        (args.wakeup and mode is Mode.CONTROL, "--wakeup does not apply to control commands"),
        (
            (args.queue_ttl or args.queue_max_length) is not None and args.queue is None,
            "--queue-ttl and --queue-max-length only apply with --queue",
        ),
        (
            args.queue is not None and (args.demo or args.replay is not None),
            "--queue reads a RabbitMQ queue: --demo and --replay have none",
        ),
        (args.queue is not None and mode is Mode.CONTROL, "--queue does not apply to control commands"),
        (args.detach and mode is not Mode.CAMERA, "--detach only applies to --camera and --sink"),
        (mode is Mode.DOCTOR and bool(args.pidfile), "--pidfile does not apply to doctor"),
        (
            mode is Mode.QUEUES and (args.demo or args.replay is not None or args.record is not None),
            "queues reads a real broker: drop --demo, --replay and --record",
        ),
        (mode is Mode.QUEUES and bool(args.pidfile), "--pidfile does not apply to queues"),
        (
            args.management_url is not None and (args.demo or args.replay is not None),
            "--management-url reads a RabbitMQ broker: --demo and --replay have none",
        ),
        (
            args.management_url is not None
            and (mode in (Mode.DUMP, Mode.CONTROL, Mode.DOCTOR) or (mode is Mode.CAMERA and not sinks)),
            "--management-url only applies to the TUI (its queue screen), queues and --sink",
        ),
        (
            args.detach and not args.logfile,
            "--detach needs -f/--logfile FILE: a detached camera has no terminal to report to",
        ),
        (
            args.frequency is not None and mode is not Mode.CAMERA,
            "--frequency only applies to --camera and --sink",
        ),
        (
            args.maxrate is not None and mode is not Mode.CAMERA,
            "--maxrate only applies to --camera and --sink",
        ),
        (args.keep is not None and not sinks, "--keep only applies to --sink (how long SQL sinks keep rows)"),
        (
            mode in (Mode.DUMP, Mode.CONTROL) and (args.max_tasks or args.max_workers) is not None,
            "--max-tasks and --max-workers apply to the TUI and --camera: they bound the State,"
            " and --dump and control commands keep none",
        ),
        (
            mode is Mode.CONTROL and (args.demo or args.replay is not None),
            "control commands need a real broker",
        ),
        (
            mode is Mode.CONTROL
            and (args.dump or args.camera or args.sinks or args.record is not None or args.pidfile),
            "control commands do not combine with --dump, --camera, --sink, --record or --pidfile",
        ),
    )
    for broken, message in rules:
        if broken:
            raise UsageError(message)


def _validate(args: argparse.Namespace) -> tuple[tuple[str | None, tuple[str, ...]], Mode]:
    cameras = _cameras(args)
    mode = _mode(args, cameras)
    _check_combinations(args, mode, cameras[1])
    return cameras, mode


def _without(args: argparse.Namespace, dest: str, value: Any) -> argparse.Namespace:
    copied = argparse.Namespace(**vars(args))
    setattr(copied, dest, value)
    return copied


def _settle(
    args: argparse.Namespace, taken: dict[str, FromEnvironment]
) -> tuple[argparse.Namespace, tuple[str | None, tuple[str, ...]], Mode]:
    """Validate, treating values from ``EVTOP_<OPTION>`` as defaults rather than commands.

    A value from the environment that breaks a rule on its own is dropped: it does not
    apply to this run (``EVTOP_MAX_TASKS`` with ``--dump``), or the command line overrides
    it (``EVTOP_DEMO=1`` with ``-b``). A rule broken by the command line alone, or by
    several variables together, is an error naming those variables.
    """
    while True:
        try:
            return args, *_validate(args)
        except UsageError as exc:
            culprits = [dest for dest in taken if not _breaks(_without(args, dest, taken[dest].default), exc)]
            if len(culprits) != 1:
                named = ", ".join(f"${taken[dest].variable}" for dest in culprits)
                raise UsageError(f"{exc} (set by {named})" if culprits else str(exc)) from None
            args = _without(args, culprits[0], taken.pop(culprits[0]).default)


def _breaks(args: argparse.Namespace, error: UsageError) -> bool:
    """Whether ``args`` still break the rule that raised ``error``."""
    try:
        _validate(args)
    except UsageError as exc:
        return str(exc) == str(error)
    return False


def _broker(
    args: argparse.Namespace, environ: Mapping[str, str], taken: Mapping[str, FromEnvironment], app: Any
) -> BrokerConfig:
    """The broker, from the first of: ``-b``, ``-A`` (or the app ``celery evtop`` runs in),
    ``$EVTOP_BROKER``, ``$EVTOP_BROKER_URL``, ``$CELERY_BROKER_URL``, the default."""
    from evtop.celery_app import app_settings, load_app  # here: a replay or demo has no broker

    if args.app:
        app = load_app(args.app)
    settings = app_settings(app) if app is not None else None
    flag = None if "broker" in taken else args.broker
    candidates = (
        ("-b/--broker", flag),
        (
            "-A/--app broker_url" if args.app else "the Celery app's broker_url",
            settings.broker_url if settings else None,
        ),
        ("$EVTOP_BROKER", args.broker if "broker" in taken else None),
        ("$EVTOP_BROKER_URL", environ.get("EVTOP_BROKER_URL")),
        ("$CELERY_BROKER_URL", environ.get("CELERY_BROKER_URL")),
        ("default", DEFAULT_BROKER_URL),
    )
    origin, url = next((name, value) for name, value in candidates if value)
    try:
        validate_broker_url(url)
    except BrokerURLError as exc:
        raise UsageError(f"{origin}: {exc}") from None
    config = BrokerConfig(url=url, accept_msgpack=args.accept_msgpack, management_url=args.management_url)
    if settings is not None:
        serializer = str(settings.event_serializer).lower()
        if serializer in ("msgpack", "application/x-msgpack") and not args.accept_msgpack:
            raise UsageError("the app's event_serializer is msgpack: add --accept-msgpack to read its events")
        if serializer not in ("json", "application/json", "msgpack", "application/x-msgpack"):
            raise UsageError(
                f"the app's event_serializer is {serializer!r}: evtop reads JSON events only "
                "(msgpack with --accept-msgpack) and never pickle or yaml"
            )
        config = replace(
            config,
            transport_options=settings.transport_options,
            event_exchange=settings.event_exchange,
            event_queue_prefix=settings.event_queue_prefix,
            event_queue_ttl=settings.event_queue_ttl,
            event_queue_expires=settings.event_queue_expires,
            control_exchange=settings.control_exchange,
        )
    if args.transport_options:
        config = replace(
            config, transport_options={**config.transport_options, **dict(args.transport_options)}
        )
    try:
        connection = config.connection()  # kombu parses the URL and options; it does not connect
    except Exception as exc:
        raise UsageError(
            f"{origin}: kombu cannot use {config.masked_url} ({type(exc).__name__}: {exc})"
        ) from None
    if args.queue is not None:
        config = replace(config, durable_queue=_durable_queue(args, connection.transport.driver_type))
    if config.management_url is not None and connection.transport.driver_type != "amqp":
        if "management_url" not in taken:
            driver = connection.transport.driver_type
            raise UsageError(f"--management-url is RabbitMQ's: {driver}:// lists its queues itself")
        config = replace(config, management_url=None)  # $EVTOP_MANAGEMENT_URL: not for this broker
    return config


def _durable_queue(args: argparse.Namespace, driver: str) -> DurableQueue:
    if driver == "redis":
        raise UsageError(
            "--queue needs RabbitMQ: Redis pub/sub hands an event only to whoever is subscribed"
            " at that moment, so nothing can keep events for evtop while it is away"
        )
    if driver != "amqp":
        raise UsageError(f"--queue needs RabbitMQ (amqp://), not {driver}://")
    return DurableQueue(
        args.queue,
        ttl=args.queue_ttl if args.queue_ttl is not None else DEFAULT_QUEUE_TTL,
        max_length=args.queue_max_length if args.queue_max_length is not None else DEFAULT_QUEUE_MAX_LENGTH,
    )


def _control(args: argparse.Namespace) -> ControlOptions:
    """Validate the control command's values; a bad one is a usage error (exit 2)."""
    from evtop.control import arguments  # here: only control mode reads the command table
    from evtop.control.commands import command

    values = vars(args)
    chosen = command(args.control_command)
    given = {param.name: values[CONTROL_DEST + param.name] for param in chosen.params}
    try:
        request = chosen.request(given)
        destination = values[CONTROL_DEST + "destination"]
        timeout = values[CONTROL_DEST + "timeout"]
        return ControlOptions(
            request=request,
            destination=tuple(arguments.names(destination, "--destination")) if destination else None,
            timeout=arguments.seconds(timeout, "--timeout")
            if timeout is not None
            else DEFAULT_CONTROL_TIMEOUT,
            yes=values[CONTROL_DEST + "yes"],
        )
    except ValueError as exc:
        raise UsageError(f"control {chosen.cli_name}: {exc}") from None


def _queues(args: argparse.Namespace) -> QueuesOptions:
    interval = getattr(args, QUEUES_DEST + "interval")
    return QueuesOptions(
        names=tuple(dict.fromkeys(args.names)),
        interval=1.0 if interval is None else interval,
    )


def resolve(args: argparse.Namespace, environ: Mapping[str, str], app: Any = None) -> Options:
    """The run's options; ``app`` is the Celery app when ``celery evtop`` runs evtop."""
    taken = dict(getattr(args, "from_environment", {}))
    if app is not None and "app" in taken:  # `celery -A proj evtop`: the app given there wins
        args = _without(args, "app", taken.pop("app").default)
    args, cameras, mode = _settle(args, taken)
    if args.demo:
        from evtop.demo.cluster import demo_config  # here: it imports kombu, a replay need not

        source, broker = Source.DEMO, demo_config()
    elif args.replay is not None:
        source, broker = Source.REPLAY, BrokerConfig(url="memory://")
    else:
        source, broker = Source.BROKER, _broker(args, environ, taken, app)
        if args.reader == Reader.PROCESS and broker_scheme(broker.url) == "memory":
            raise UsageError("--reader process needs a broker of its own: memory:// lives inside one process")
    return Options(
        mode=mode,
        source=source,
        broker=broker,
        app=args.app,
        celery_app=app if not args.app else None,
        read_only=args.read_only,
        wakeup=not args.read_only and (mode is Mode.TUI or args.wakeup),
        reader=Reader(args.reader or Reader.AUTO),
        json=any(
            getattr(args, f"{prefix}json", False) for prefix in ("", CONTROL_DEST, DOCTOR_DEST, QUEUES_DEST)
        ),
        color=not args.no_color and "NO_COLOR" not in environ,
        zone=args.tz,
        mouse=not args.no_mouse,
        camera=cameras[0],
        sinks=cameras[1],
        keep=args.keep,
        frequency=args.frequency if args.frequency is not None else DEFAULT_FREQUENCY,
        maxrate=args.maxrate,
        replay=args.replay,
        speed=args.speed if args.speed is not None else (math.inf if mode is Mode.DOCTOR else 1.0),
        record=args.record,
        max_tasks=args.max_tasks if args.max_tasks is not None else DEFAULT_MAX_TASKS,
        max_workers=args.max_workers if args.max_workers is not None else DEFAULT_MAX_WORKERS,
        loglevel=args.loglevel or "WARNING",
        logfile=args.logfile,
        pidfile=args.pidfile,
        detach=args.detach,
        control=_control(args) if mode is Mode.CONTROL else None,
        listen=getattr(args, DOCTOR_DEST + "listen", None) or DEFAULT_LISTEN,
        queues=_queues(args) if mode is Mode.QUEUES else None,
    )
