"""A task's workflow as a tree: its root, parents and children, with a count per state.

Celery links the tasks of a chain, a group or a task that sends subtasks by ``root_id``
(the first task) and ``parent_id`` (the task that sent it). The tree is read from State's
``tasks_by_root`` index, the selected task's ``parent_id`` chain and the children State
knows, so building it costs the workflow's own size, not the tasks held. Tasks whose
parent is not in memory (evicted, or never seen) hang at the top level, marked so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from evtop.events import states
from evtop.events.health import running
from evtop.events.state import State, Task
from evtop.text.sanitize import sanitize
from evtop.view.cells import NONE
from evtop.view.tasks import STYLE_BY_STATE

#: Markup of one pane line: plain text or ``(style, text)`` parts, as a renderer draws it.
Markup = list[Any]


@dataclass(frozen=True)
class Node:
    uuid: str
    name: str
    state: str
    worker: str
    depth: int
    #: The tree lines drawn before the node (``│  ├─ ``).
    prefix: str
    #: Its parent_id names a task not in memory.
    orphan: bool
    #: It runs on its worker (:func:`~evtop.events.health.running`): a revoke does not stop it.
    running: bool = False


@dataclass(frozen=True)
class Workflow:
    """The tree of the task :attr:`focus` belongs to, depth first, root first."""

    focus: str
    root_id: str | None
    nodes: tuple[Node, ...]

    @property
    def counts(self) -> Counter[str]:
        return Counter(node.state for node in self.nodes)

    def position(self, uuid: str) -> int | None:
        return next((i for i, node in enumerate(self.nodes) if node.uuid == uuid), None)

    def subtree(self, index: int) -> tuple[Node, ...]:
        """The node at ``index`` and its descendants: depth first, they follow it."""
        nodes = self.nodes
        depth = nodes[index].depth
        end = index + 1
        while end < len(nodes) and nodes[end].depth > depth:
            end += 1
        return nodes[index:end]


def _str(value: object) -> str | None:
    return value if type(value) is str and value else None


def _when(task: Task) -> float:
    """When the task was sent (or received): siblings in the order they were sent."""
    for value in (task.sent, task.received, task.timestamp):
        if type(value) in (int, float) and value == value:  # not NaN
            return float(value)  # type: ignore[arg-type]
    return float("inf")


def workflow(state: State, uuid: str) -> Workflow | None:
    """The tree of ``uuid``'s workflow, or None when the task is not in memory."""
    return state.freeze_while(_workflow, state, uuid)


def _members(state: State, start: Task) -> dict[str, Task]:
    data = state.tasks.data
    found: dict[str, Task] = {}
    root_id = _str(start.root_id)
    if root_id is not None:
        found.update(state.tasks_by_root._sets.get(root_id) or {})
        root = data.get(root_id)
        if root is not None:
            found[root_id] = root
    climbed: set[str] = set()
    task: Task | None = start
    while task is not None and str(task.uuid) not in climbed:  # up the parent_id chain
        climbed.add(str(task.uuid))
        found[str(task.uuid)] = task
        parent_id = _str(task.parent_id)
        task = data.get(parent_id) if parent_id is not None else None
    queue = list(found.values())
    while queue:  # down through the children State knows (tasks without a root_id too)
        for child in list(queue.pop()._children or ()):
            child_id = child.uuid
            if child_id is not None and child_id not in found and data.get(child_id) is child:
                found[child_id] = child
                queue.append(child)
    return found


def _workflow(state: State, uuid: str) -> Workflow | None:
    start = state.tasks.data.get(uuid)
    if start is None:
        return None
    members = _members(state, start)
    children: dict[str, list[Task]] = {}
    tops: list[Task] = []
    for task_id, task in members.items():
        parent_id = _str(task.parent_id)
        if parent_id is not None and parent_id != task_id and parent_id in members:
            children.setdefault(parent_id, []).append(task)
        else:
            tops.append(task)
    root_id = _str(start.root_id)
    tops.sort(key=lambda t: (t.uuid != root_id, _when(t)))
    nodes: list[Node] = []
    placed: set[str] = set()

    def place(top: Task) -> None:
        # Iterative depth-first walk: a deep chain must not hit the recursion limit.
        stack: list[tuple[Task, int, str, str]] = [(top, 0, "", "")]
        while stack:
            task, depth, prefix, indent = stack.pop()
            task_id = str(task.uuid)
            if task_id in placed:  # a cycle of parent_ids (bad data): draw each task once
                continue
            placed.add(task_id)
            parent_id = _str(task.parent_id)
            worker = task.worker
            nodes.append(
                Node(
                    task_id,
                    _str(task.name) or "",
                    _str(task.state) or states.PENDING,
                    (_str(worker.hostname) or "") if worker is not None else "",
                    depth,
                    prefix,
                    depth == 0 and parent_id is not None and parent_id not in members,
                    running(task),
                )
            )
            kids = sorted(children.get(task_id, ()), key=_when)
            for number, kid in reversed(list(enumerate(kids))):
                last = number == len(kids) - 1
                stack.append(
                    (kid, depth + 1, indent + ("└─ " if last else "├─ "), indent + ("   " if last else "│  "))
                )

    for top in tops:
        place(top)
    for task in members.values():  # only in a cycle: no top leads to them
        if str(task.uuid) not in placed:
            place(task)
    return Workflow(uuid, root_id, tuple(nodes))


def counts_text(counts: Counter[str]) -> str:
    """``12 STARTED, 25 PENDING``: most first, then by name."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{count} {sanitize(name)}" for name, count in ordered)


def heading(tree: Workflow) -> list[str]:
    """The lines above the tree: its size and its states."""
    size = len(tree.nodes)
    root = sanitize(tree.root_id) if tree.root_id else NONE
    return [
        f"root {root}: {size} task{'s' if size != 1 else ''} in memory ({counts_text(tree.counts)})",
        "c revokes, x terminates the selected task and all below it (here: the whole workflow; asks first)",
        "",
    ]


def line(node: Node, focus: str) -> Markup:
    """One node: tree lines, name, state (coloured), uuid, worker."""
    parts: Markup = [node.prefix, sanitize(node.name) or "???", " "]
    parts.append((STYLE_BY_STATE.get(node.state, "state.custom"), sanitize(node.state)))
    parts.append(f" {sanitize(node.uuid)}")
    if node.worker:
        parts.append(f" on {sanitize(node.worker)}")
    if node.orphan:
        parts.append("  (its parent is not in memory)")
    if node.uuid == focus:
        parts.append(("pane.label", "  ◀ this task"))
    return parts
