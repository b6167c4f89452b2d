"""A view-model :class:`~evtop.view.sheet.Table` as an urwid list, one widget per drawn row.

Row widgets are made on demand (only the rows on screen), so a refresh costs the rows
drawn, not the rows held; and a refresh that changes none of them draws nothing. The
focused row is the selection.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, NamedTuple

import urwid

from evtop.text.sanitize import display_width, fit, truncate
from evtop.tui.palette import STYLE_NAMES
from evtop.view.columns import GAP, Align, Column, layout
from evtop.view.sheet import Table

SELECTED = "row.selected"


class Line(urwid.Text):
    """A line of text that redraws only when its text changes (``set_text`` always does)."""

    def __init__(self, markup: Any = "") -> None:
        super().__init__(markup, wrap="clip")
        self._markup = markup

    def show(self, markup: Any) -> None:
        if markup != self._markup:
            self._markup = markup
            self.set_text(markup)


class RowText(urwid.Text):
    """A selectable line of text: focusable in a ListBox, passes every key on."""

    _selectable = True

    def keypress(self, size: tuple[()] | tuple[int] | tuple[int, int], key: str) -> str:
        return key


class TableRow(RowText):
    """A table row: in the selection style when focused. What an ``AttrMap`` with a
    focus map does, without making one per row (a third of drawing a screen of new rows).
    """

    def render(  # type: ignore[override]  # a CompositeCanvas when focused, as AttrMap's
        self, size: tuple[int] | tuple[()], focus: bool = False
    ) -> urwid.Canvas:
        canvas = super().render(size, focus)
        if not focus:
            return canvas
        selected = urwid.CompositeCanvas(canvas)
        selected.fill_attr_apply(_FOCUS_MAP)
        return selected


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
    cells = tuple(
        f"{c.title[: max(width - 1, 0)]}{arrow}" if c.id == sorted_by else c.title
        for c, width in zip(columns, widths, strict=True)
    )  # the arrow is never the part cut off a narrow column
    return markup(cells, (None,) * len(columns), columns, widths)


def column_at(columns: tuple[Column, ...], widths: list[int], col: int) -> str | None:
    """The id of the column drawn at screen column ``col`` (laid out as :func:`markup`)."""
    start = 0
    for column, width in zip(columns, widths, strict=True):
        if not width:
            continue
        if start <= col < start + width:
            return column.id
        start += width + GAP
    return None


class _Row(NamedTuple):
    cells: tuple[str, ...]
    styles: tuple[str | None, ...]
    widget: urwid.Widget


class RowWalker(urwid.ListWalker):
    """Positions are row indexes into the table; widgets are built when urwid asks.

    A widget is kept by its row's key while the row reads the same, so when new rows push
    the others down, only the new ones are built and drawn.
    """

    def __init__(self, table: Table[Any], width: int) -> None:
        self.table = table
        self.widths = layout(table.sheet.columns, width)
        self.focus = 0
        self._length = len(table.items)
        #: Row key -> widget of the rows on screen, and position -> key of those rows:
        #: what urwid asked for since it last had to redraw.
        self._rows: dict[str, _Row] = {}
        self._shown: dict[int, str] = {}

    def show(self, table: Table[Any], width: int, focus: int | None) -> None:
        """Point at a refreshed ``table``; the list box redraws only if a row on screen
        changed (or the focus, the widths, the length). Costs the rows on screen."""
        widths = layout(table.sheet.columns, width)
        length = len(table.items)
        redrawn = widths != self.widths or table.sheet is not self.table.sheet
        changed = redrawn or length != self._length or (focus is not None and focus != self.focus)
        if redrawn:
            self._rows, self._shown = {}, {}
        for position, key in () if redrawn else self._shown.items():
            row = self._rows[key]
            same = position < length and table.key(position) == key and table.cells(position) == row.cells
            if not (same and table.styles(position) == row.styles):
                changed = True
                break
        self.table, self.widths, self._length = table, widths, length
        if focus is not None:
            self.focus = focus
        if changed:
            self._modified()

    def _modified(self) -> None:
        """The list box will ask for the rows it shows again: keep only their widgets."""
        self._rows = {key: self._rows[key] for key in self._shown.values()}
        self._shown = {}
        super()._modified()

    def __len__(self) -> int:
        return len(self.table.items)

    def __getitem__(self, position: int) -> urwid.Widget:
        table = self.table
        if not 0 <= position < len(table.items):
            raise IndexError(position)
        key = table.key(position)
        cells, styles = table.cells(position), table.styles(position)
        row = self._rows.get(key)
        if row is None or row.cells != cells or row.styles != styles:
            parts = markup(cells, styles, table.sheet.columns, self.widths)
            widget = TableRow(parts, wrap="clip")
            row = self._rows[key] = _Row(cells, styles, widget)
        self._shown[position] = key
        return row.widget

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
_FOCUS_MAP: dict[Hashable, Hashable] = {None: SELECTED, **dict.fromkeys(STYLE_NAMES, SELECTED)}
