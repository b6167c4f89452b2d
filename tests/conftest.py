from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# ============================================================================================
# Broker / worker test infrastructure (tests/support/*).  Keep this section free of evtop
# imports; add other fixtures below it.
# ============================================================================================
from tests.support.servers import PostgreSQLServer, RabbitMQServer, RedisServer

if TYPE_CHECKING:  # celery is imported only by tests that start workers
    from tests.support.workers import CeleryWorker

#: default per-test timeout (seconds) for tests marked ``broker`` that set no ``timeout`` marker
BROKER_TEST_TIMEOUT = 90

#: broker kinds the ``broker_url`` fixture is parametrized over
BROKER_KINDS = ("redis", "amqp")

#: Seconds a worker left running at the end of a test gets to shut down warm.
TEARDOWN_WARM_SHUTDOWN = 5.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        needs_server = any(item.get_closest_marker(name) for name in ("broker", "postgres"))
        if needs_server and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(BROKER_TEST_TIMEOUT))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server on a free loopback port, started on first use, for the whole session."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[RabbitMQServer]:
    """A RabbitMQ node on a free loopback port, started on first use (≈6 s), for the whole session."""
    with RabbitMQServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgreSQLServer]:
    """A PostgreSQL server on a free loopback port, started on first use (≈2 s), for the session."""
    with PostgreSQLServer() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgreSQLServer) -> str:
    """A fresh database owned by a fresh ordinary role (no superuser, no CREATEDB): the
    rights a sink gets in production. The URL carries the role's password."""
    name = f"sink_{next(_databases)}"
    postgres_server.sql(f"CREATE ROLE {name} LOGIN PASSWORD 'pw-{name}' NOSUPERUSER NOCREATEDB NOCREATEROLE")
    postgres_server.sql(f"CREATE DATABASE {name} OWNER {name}")
    return postgres_server.url_for(name, name, password=f"pw-{name}")


_databases = itertools.count(1)


@pytest.fixture(scope="session", params=BROKER_KINDS)
def broker_kind(request: pytest.FixtureRequest) -> str:
    """``"redis"`` or ``"amqp"``; tests using it (or ``broker_url``) run once per broker."""
    return str(request.param)


@pytest.fixture(scope="session")
def broker_server(broker_kind: str, request: pytest.FixtureRequest) -> RedisServer | RabbitMQServer:
    """The running server for ``broker_kind`` (only that server is started)."""
    name = "redis_server" if broker_kind == "redis" else "rabbitmq_server"
    server = request.getfixturevalue(name)
    assert isinstance(server, (RedisServer, RabbitMQServer))
    return server


@pytest.fixture(scope="session")
def broker_url(broker_server: RedisServer | RabbitMQServer) -> str:
    """URL of a live broker, parametrized over redis and amqp.

    Session-scoped so module-scoped worker fixtures can depend on it.  A test that restarts the
    server keeps the URL (same port).
    """
    return broker_server.url


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., CeleryWorker]]:
    """Factory: ``start_worker(broker_url, pool="prefork", **CeleryWorker kwargs)`` → a running worker.

    Every worker it started is stopped when the test ends; logs go to ``tmp_path/workers``.
    """
    from tests.support.workers import CeleryWorker

    started: list[CeleryWorker] = []

    def factory(broker_url: str, pool: str = "prefork", **kwargs: Any) -> CeleryWorker:
        kwargs.setdefault("log_dir", tmp_path / "workers")
        worker = CeleryWorker(broker_url, pool=pool, **kwargs)
        started.append(worker)
        return worker.start()

    yield factory
    for worker in reversed(started):
        # The test is over: a worker still running a long task (a 30 s sleep) is not
        # waited for as long as a test's own stop() waits; the process group is killed.
        worker.stop(timeout=TEARDOWN_WARM_SHUTDOWN)


# ============================================================================================
# end of broker / worker infrastructure
# ============================================================================================
