"""Tables that read at 80 columns and in logs.

Off a terminal (a log, a pipe) a table is plain aligned text, one line per row, nothing cut
or wrapped, so `grep RUN_ID` finds the whole row. On a terminal, ids never wrap: paths are
shortened to `…/name` first, then the free-text column (an error) folds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

Kind = Literal["id", "text", "number", "path", "free"]


@dataclass(frozen=True)
class Column:
    name: str
    #: id: never wraps; number: right-aligned; path: shortened first; free: folds.
    kind: Kind = "text"


@dataclass(frozen=True)
class Cell:
    """A value with the style it has on a terminal (`green` for a success, say)."""

    text: str
    style: str = ""


Value = str | Cell


def show(
    console: Console, title: str, columns: Sequence[Column], rows: Sequence[Sequence[Value]]
) -> None:
    cells = [[v if isinstance(v, Cell) else Cell(v) for v in row] for row in rows]
    cells = [[Cell(" ".join(c.text.split()), c.style) for c in row] for row in cells]  # one line
    if console.is_terminal:
        _rich(console, title, columns, cells)
    else:
        _plain(console, columns, cells)


def _plain(console: Console, columns: Sequence[Column], rows: list[list[Cell]]) -> None:
    widths = [max([len(c.name)] + [len(r[i].text) for r in rows]) for i, c in enumerate(columns)]

    def line(texts: Sequence[str]) -> str:
        padded = [
            t.rjust(w) if c.kind == "number" else t.ljust(w)
            for t, w, c in zip(texts, widths, columns, strict=True)
        ]
        return "  ".join(padded).rstrip()

    # soft_wrap: the console never breaks a line, however wide the row.
    console.print(
        line([c.name for c in columns]), markup=False, highlight=False, soft_wrap=True, emoji=False
    )
    for row in rows:
        console.print(
            line([c.text for c in row]), markup=False, highlight=False, soft_wrap=True, emoji=False
        )


def _rich(console: Console, title: str, columns: Sequence[Column], rows: list[list[Cell]]) -> None:
    if _natural(columns, rows) > console.width:  # shorten paths before anything wraps
        rows = [
            [_shortened(c) if k.kind == "path" else c for c, k in zip(r, columns, strict=True)]
            for r in rows
        ]
    if _natural(columns, rows) > console.width:  # still too wide: a record per row
        _stacked(console, columns, rows)
        return
    table = Table(title=title)
    for column in columns:
        if column.kind == "free":
            table.add_column(column.name, overflow="fold", ratio=1)
        else:
            right: Literal["right", "left"] = "right" if column.kind == "number" else "left"
            table.add_column(column.name, no_wrap=True, justify=right)
    for row in rows:
        table.add_row(*(Text(c.text, style=c.style) for c in row))
    console.print(table)


def _natural(columns: Sequence[Column], rows: list[list[Cell]]) -> int:
    """The width a table needs for every cell whole (a free column's header only)."""
    widths = [
        len(c.name) if c.kind == "free" else max([len(c.name)] + [len(r[i].text) for r in rows])
        for i, c in enumerate(columns)
    ]
    return sum(w + 3 for w in widths) + 1  # a border and padding per column


def _stacked(console: Console, columns: Sequence[Column], rows: list[list[Cell]]) -> None:
    """Each row as its id on a line, then `name value` fields packed into the width."""
    width = console.width
    for row in rows:
        head = Text()
        fields: list[Text] = []
        for column, cell in zip(columns, row, strict=True):
            if column.kind == "id" and not head:
                head = Text(cell.text, style="bold")
            elif cell.text:
                fields.append(Text.assemble((f"{column.name} ", "dim"), (cell.text, cell.style)))
        console.print(head, soft_wrap=True)
        line = Text("  ")
        for field in fields:
            if len(line) > 2 and len(line) + 2 + len(field) > width:
                console.print(line)
                line = Text("  ")
            line += Text("  ") + field if len(line) > 2 else field
        if len(line) > 2:
            console.print(line)


def _shortened(cell: Cell) -> Cell:
    """`…/name.csv.gz`: the file's name is what tells runs apart."""
    head, _, name = cell.text.rstrip("/").rpartition("/")
    return Cell(f"…/{name}", cell.style) if head and name else cell
