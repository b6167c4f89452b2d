"""Panes scroll by screen lines: nothing out of reach at any size, and they say what is below."""

from __future__ import annotations

from evtop.tui.dialogs import pane


def draw(widget, size):
    return [line.decode().rstrip() for line in widget.render(size).text]


def test_a_value_wrapping_over_more_lines_than_the_pane_scrolls_to_its_end():
    words = " ".join(f"w{i:02d}" for i in range(40))  # one line, ten screen lines at 16 columns
    widget, box = pane("Result", [words, "last"])
    lines = draw(widget, (16, 3))
    assert lines[0].startswith(" Result  [-- mor") and lines[1:] == ["w00 w01 w02 w03", "w04 w05 w06 w07"]
    seen = lines[1:]
    while "[END]" not in draw(widget, (16, 3))[0] and len(seen) < 50:
        box.scroll(box.page())
        seen += draw(widget, (16, 3))[1:]
    assert seen[-1] == "last" and all(f"w{i:02d}" in " ".join(seen) for i in range(40))
    box.scroll(5)  # past the end: the last line stays on the bottom row
    assert draw(widget, (16, 3))[-1] == "last"
    box.scroll(to=0)
    assert draw(widget, (16, 3))[1] == "w00 w01 w02 w03"


def test_the_title_says_all_when_everything_fits_and_the_share_read_otherwise():
    widget, box = pane("Keys", [f"line {i}" for i in range(10)])
    assert "[all]" in draw(widget, (40, 12))[0]
    assert "[-- more -- 40%]" in draw(widget, (40, 5))[0]  # 4 of 10 lines
    box.scroll(to=-1)
    assert "[END]" in draw(widget, (40, 5))[0]
    assert draw(widget, (40, 20))[1] == "line 0"  # grown: no blank lines below the end


def test_a_wrapped_value_goes_on_under_its_start_not_under_its_label():
    widget, _box = pane(
        "Keys",
        [
            "  ^C    quit from anywhere with exit status 130",
            "plain text that wraps at the left edge again",
            "a-label-as-wide-as-half  the value wraps at the left edge",
        ],
    )
    assert draw(widget, (30, 7))[1:] == [
        "  ^C    quit from anywhere",
        "        with exit status 130",
        "plain text that wraps at the",
        "left edge again",
        "a-label-as-wide-as-half  the",
        "value wraps at the left edge",
    ]
