"""A least-privilege monitoring user on a fresh RabbitMQ virtual host, as README documents.

The regexes are the ones README's "Least privilege" section gives (a test checks that it
still does): the user may configure and write only its own ``celeryev.*`` queues (a queue
binding needs write on the queue) and read the ``celeryev`` exchange and those queues. It
can neither create the event exchange nor publish events or control commands.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support.servers import RabbitMQServer

CONFIGURE = r"^celeryev\."
WRITE = r"^celeryev\."
READ = r"^celeryev(\..*)?$"
#: With the wakeup broadcast (the TUI's default), the user also writes to celery.pidbox.
WRITE_WITH_WAKEUP = r"^(celeryev\..*|celery\.pidbox)$"


@dataclass(frozen=True)
class MonitorVhost:
    name: str
    user: str
    password: str
    #: guest's URL on the vhost: what the workers and the test's publishers use.
    admin_url: str
    #: the monitoring user's URL on the vhost: what evtop uses.
    url: str


@contextmanager
def monitor_vhost(
    server: RabbitMQServer, *, configure: str = CONFIGURE, write: str = WRITE, read: str = READ
) -> Iterator[MonitorVhost]:
    """A vhost where nothing is declared yet, and a user with these permissions on it."""
    tag = uuid.uuid4().hex[:8]
    name, user, password = f"evtop-{tag}", f"monitor-{tag}", f"pw-{tag}"
    admin_url = server.add_vhost(name)
    server.add_user(user, password)
    server.set_permissions(user, vhost=name, configure=configure, write=write, read=read)
    try:
        yield MonitorVhost(name, user, password, admin_url, server.url_for(user, password, name))
    finally:
        server.ctl("delete_vhost", name, check=False)
        server.ctl("delete_user", user, check=False)
