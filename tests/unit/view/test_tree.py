"""The workflow tree model: root, parents and children from State, counts, subtrees."""

from __future__ import annotations

from evtop.events.state import State
from evtop.view.tree import counts_text, heading, line, workflow
from tests.support.cluster import T0, task
from tests.support.events import HOSTILE, assert_terminal_safe


def flow(state: State, *links: tuple[str, str | None, str | None], start: int = 1) -> None:
    """``(uuid, parent_id, root_id)``: each task received in this order."""
    for number, (uuid, parent, root) in enumerate(links, start):
        state.event(
            task("task-received", uuid, T0 + number, number, name=f"t.{uuid}", parent_id=parent, root_id=root)
        )


def shape(state: State, uuid: str) -> list[str]:
    tree = workflow(state, uuid)
    assert tree is not None
    return [node.prefix + node.uuid for node in tree.nodes]


def test_a_chain_and_a_group_under_one_root_from_any_of_their_tasks():
    state = State()
    flow(state, ("r", None, "r"), ("a", "r", "r"), ("g1", "a", "r"), ("g2", "a", "r"), ("z", "r", "r"))
    state.event(task("task-started", "g1", T0 + 9, 9))
    expected = ["r", "├─ a", "│  ├─ g1", "│  └─ g2", "└─ z"]
    for uuid in ("r", "a", "g2", "z"):
        assert shape(state, uuid) == expected
    tree = workflow(state, "a")
    assert tree is not None and tree.root_id == "r"
    assert counts_text(tree.counts) == "4 RECEIVED, 1 STARTED"
    assert [node.uuid for node in tree.subtree(1)] == ["a", "g1", "g2"]
    assert [node.uuid for node in tree.subtree(4)] == ["z"]
    assert heading(tree)[0] == "root r: 5 tasks in memory (4 RECEIVED, 1 STARTED)"
    assert ("pane.label", "  ◀ this task") in line(tree.nodes[1], "a")
    assert ("state.started", "STARTED") in line(tree.nodes[2], "a")


def test_children_without_root_ids_and_tasks_whose_parent_is_gone():
    state = State(max_tasks_in_memory=5)
    flow(state, ("p", None, None), ("c1", "p", None), ("c2", "p", None))  # protocol 1: no root_id
    assert shape(state, "c2") == ["p", "├─ c1", "└─ c2"]
    flow(state, ("r", None, "r"), ("a", "r", "r"), ("b", "a", "r"), start=10)  # evicts c1
    assert workflow(state, "c1") is None and shape(state, "p") == ["p", "└─ c2"]
    tree = workflow(state, "b")
    assert tree is not None and [n.uuid for n in tree.nodes] == ["r", "a", "b"]
    flow(state, ("y", "gone", "r"), start=20)  # its parent was never seen
    tree = workflow(state, "y")
    assert tree is not None and [(n.uuid, n.depth, n.orphan) for n in tree.nodes][-1] == ("y", 0, True)


def test_a_cycle_of_parent_ids_and_a_deep_chain_are_drawn_once_each():
    state = State()
    flow(state, ("a", "b", "a"), ("b", "a", "a"))
    tree = workflow(state, "a")
    assert tree is not None and sorted(n.uuid for n in tree.nodes) == ["a", "b"]
    deep = State(max_tasks_in_memory=20_000)
    links = [("n0", None, "n0"), *((f"n{i}", f"n{i - 1}", "n0") for i in range(1, 5000))]
    flow(deep, *links)
    tree = workflow(deep, "n2500")
    assert tree is not None and len(tree.nodes) == 5000 and tree.nodes[-1].depth == 4999


def test_tasks_of_other_workflows_stay_out():
    state = State(max_tasks_in_memory=100_000)
    for i in range(20_000):
        state.event(task("task-received", f"u{i}", T0, i + 1, name="other", root_id=f"u{i}"))
    flow(state, ("r", None, "r"), ("a", "r", "r"), start=60_000)
    tree = workflow(state, "a")
    assert tree is not None and [n.uuid for n in tree.nodes] == ["r", "a"]


def test_tree_lines_are_terminal_safe():
    state = State()
    for number, text in enumerate(HOSTILE, 1):
        state.event(
            task("task-received", f"h{number}", T0, number, name=text, root_id="h1", hostname=text[:50])
        )
    tree = workflow(state, "h1")
    assert tree is not None
    for node in tree.nodes:
        for part in line(node, "h1"):
            assert_terminal_safe(part if isinstance(part, str) else part[1])
    for text in heading(tree):
        assert_terminal_safe(text)
