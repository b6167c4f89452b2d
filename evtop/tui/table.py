"""A view-model :class:`~evtop.view.sheet.Table` as an urwid list, one widget per drawn row.

Row widgets are made on demand (only the rows on screen), so a refresh of a 10,000-task
table costs the rows drawn, not the rows held. The focused row is the selection.
"""

from __future__ import annotations

from typing import Any

import urwid

from evtop.text.sanitize import display_width, fit, truncate
from evtop.tui.palette import STYLE_NAMES
from evtop.view.columns import GAP, Align, Column, layout
from evtop.view.sheet import Table

SELECTED = "row.selected"


class RowText(urwid.Text):
    """A selectable line of text: focusable in a ListBox, passes every key on."""

    _selectable = True

    def keypress(self, size: tuple[()] | tuple[int] | tuple[int, int], key: str) -> str:
        return key


def cell(text: str, width: int, align: Align) -> str:
    if align is Align.RIGHT:
        text = truncate(text, width)
        return " " * (width - display_width(text)) + text
    return fit(text, width)


def markup(
    cells: tuple[str, ...], styles: tuple[str | None, ...], columns: tuple[Column, ...], widths: list[int]
) -> list[Any]:
    parts: list[Any] = []
    for text, style, column, width in zip(cells, styles, columns, widths, strict=True):
        if not width:
            continue
        if parts:
            parts.append(" " * GAP)
        shown = cell(text, width, column.align)
        parts.append((style, shown) if style else shown)
    return parts or [""]


def header_markup(
    columns: tuple[Column, ...], widths: list[int], sorted_by: str, descending: bool
) -> list[Any]:
    arrow = "▼" if descending else "▲"
    cells = tuple(f"{c.title}{arrow}" if c.id == sorted_by else c.title for c in columns)
    return markup(cells, (None,) * len(columns), columns, widths)


class RowWalker(urwid.ListWalker):
    """Positions are row indexes into the table; widgets are built when urwid asks."""

    def __init__(self, table: Table[Any], width: int) -> None:
        self.table = table
        self.widths = layout(table.sheet.columns, width)
        self.focus = 0
        self._cache: dict[int, urwid.Widget] = {}

    def __len__(self) -> int:
        return len(self.table.items)

    def __getitem__(self, position: int) -> urwid.Widget:
        if not 0 <= position < len(self.table.items):
            raise IndexError(position)
        widget = self._cache.get(position)
        if widget is None:
            columns = self.table.sheet.columns
            parts = markup(self.table.cells(position), self.table.styles(position), columns, self.widths)
            widget = urwid.AttrMap(RowText(parts, wrap="clip"), None, focus_map=_FOCUS_MAP)
            self._cache[position] = widget
        return widget

    def next_position(self, position: int) -> int:
        if position + 1 >= len(self.table.items):
            raise IndexError(position)
        return position + 1

    def prev_position(self, position: int) -> int:
        if position <= 0:
            raise IndexError(position)
        return position - 1

    def set_focus(self, position: int) -> None:
        self.focus = position
        self._modified()

    def positions(self, reverse: bool = False) -> range:
        count = len(self.table.items)
        return range(count - 1, -1, -1) if reverse else range(count)


#: Every style becomes the selection style on the focused row.
_FOCUS_MAP: dict[str | None, str] = {None: SELECTED, **dict.fromkeys(STYLE_NAMES, SELECTED)}
