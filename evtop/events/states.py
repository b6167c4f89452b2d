"""Celery task states and their precedence, as the State merge rules need them.

Kept separate from ``state.py`` because the dump, the TUI and the sinks colour and sort by
these names too, and none of them should have to import the State machinery.
"""

from __future__ import annotations

from typing import Final

PENDING: Final = "PENDING"
RECEIVED: Final = "RECEIVED"
STARTED: Final = "STARTED"
SUCCESS: Final = "SUCCESS"
FAILURE: Final = "FAILURE"
REVOKED: Final = "REVOKED"
REJECTED: Final = "REJECTED"
RETRY: Final = "RETRY"

#: Event subject (``task-<subject>``) → state, and the Task attribute that gets the timestamp.
TASK_EVENT_TO_STATE: Final[dict[str, str]] = {
    "sent": PENDING,
    "received": RECEIVED,
    "started": STARTED,
    "failed": FAILURE,
    "retried": RETRY,
    "succeeded": SUCCESS,
    "revoked": REVOKED,
    "rejected": REJECTED,
}

#: Best first. Custom states (``task-progress`` → ``PROGRESS``) rank where ``None`` sits.
PRECEDENCE: Final[tuple[str | None, ...]] = (
    SUCCESS,
    FAILURE,
    None,
    REVOKED,
    STARTED,
    RECEIVED,
    REJECTED,
    RETRY,
    PENDING,
)
RANKS: Final[dict[str | None, int]] = {state: index for index, state in enumerate(PRECEDENCE)}
CUSTOM_RANK: Final = RANKS[None]


def precedence(state: str | None) -> int:
    """Rank of ``state``: lower is better; unknown states share the custom rank."""
    return RANKS.get(state, CUSTOM_RANK)


READY_STATES: Final = frozenset({SUCCESS, FAILURE, REVOKED})
UNREADY_STATES: Final = frozenset({PENDING, RECEIVED, STARTED, REJECTED, RETRY})
EXCEPTION_STATES: Final = frozenset({RETRY, FAILURE, REVOKED})
ALL_STATES: Final = frozenset(TASK_EVENT_TO_STATE.values())
