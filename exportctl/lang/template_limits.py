"""The cost of one template render, bounded: sizes checked before they are built, work counted.

Jinja's sandbox keeps a template out of Python's internals but not from building a gigabyte
string, a 10**10**8 integer or 10**10 loop iterations. `templating` routes every operator,
call, filter, loop item, `~` and output chunk through here, against the budget of the render
in progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import jinja2

#: Characters of template source.
MAX_SOURCE = 64 * 1024
#: Size of one value (characters of text, items of a list, digits of a number).
MAX_VALUE = 2**20
#: Characters one render may output.
MAX_OUTPUT = 16 * 2**20
#: Bits of an integer a template may compute.
MAX_INT_BITS = 4096
#: Items of one `range`.
MAX_RANGE = 100_000
#: Loop iterations, calls and operations in one render.
MAX_STEPS = 200_000
#: Characters built in one render, all values together.
MAX_WORK = 64 * 2**20
#: Seconds one render may take, a backstop for what the counts miss (comparisons of long text).
MAX_SECONDS = 5.0


class TemplateLimitError(jinja2.TemplateRuntimeError):
    """A template asked for more than a render may spend."""


@dataclass
class Budget:
    """What one render has spent; `clock` is injected so tests can run out of time."""

    clock: Callable[[], float] = time.monotonic
    seconds: float = MAX_SECONDS
    steps: int = 0
    work: int = 0
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = self.clock() + self.seconds

    def step(self, work: int = 0) -> None:
        self.steps += 1
        self.work += work
        if self.steps > MAX_STEPS:
            raise TemplateLimitError(f"the template takes over {MAX_STEPS:,} steps")
        if self.work > MAX_WORK:
            raise TemplateLimitError(f"the template builds over {MAX_WORK // 2**20} MiB")
        if self.steps % 256 == 0 and self.clock() > self.deadline:
            raise TemplateLimitError(f"the template takes over {self.seconds:g} s to render")

    def joined(self, chunks: Iterable[str]) -> str:
        """The output, refused past MAX_OUTPUT characters."""
        out: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateLimitError(f"the template outputs over {MAX_OUTPUT // 2**20} MiB")
            self.step(len(chunk))
            out.append(chunk)
        return "".join(out)


_CURRENT: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


@contextmanager
def budget(clock: Callable[[], float] = time.monotonic) -> Iterator[Budget]:
    """A fresh budget for the render inside the block (renders in threads have their own)."""
    spent = Budget(clock)
    token = _CURRENT.set(spent)
    try:
        yield spent
    finally:
        _CURRENT.reset(token)


def current() -> Budget:
    return _CURRENT.get() or Budget()


def weight(value: Any, limit: int = MAX_VALUE) -> int:
    """The size of `value` (text length, items, digits), counted up to just past `limit`."""
    total = 0
    todo = [value]
    while todo and total <= limit:
        item = todo.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, list | tuple | set | frozenset | range):
            total += len(item) + 1
            if not isinstance(item, range):
                todo.extend(item)
        elif isinstance(item, dict):
            total += len(item) + 1
            todo.extend(item.keys())
            todo.extend(item.values())
        else:
            total += 1
    return total


def measured(value: Any) -> Any:
    """`value`, once it is known to fit in MAX_VALUE; counted as a step of the render."""
    size = weight(value)
    if size > MAX_VALUE:
        raise TemplateLimitError(f"a value of the template grows over {MAX_VALUE:,} characters")
    current().step(size)
    return value


def _refuse(message: str) -> None:
    raise TemplateLimitError(message)


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse an operation whose result would be too big, before it is computed."""
    ints = isinstance(left, int) and isinstance(right, int)
    if operator == "**" and ints and abs(left) > 1 and right > 0:
        if right > MAX_INT_BITS or right * (abs(left).bit_length() - 1) > MAX_INT_BITS:
            _refuse(f"`**` would make a number of over {MAX_INT_BITS} bits")
    elif operator == "*" and ints:
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            _refuse(f"`*` would make a number of over {MAX_INT_BITS} bits")
    elif operator == "*":
        sequence, times = (left, right) if isinstance(right, int) else (right, left)
        repeated = isinstance(times, int) and isinstance(sequence, str | bytes | list | tuple)
        if repeated and len(sequence) * times > MAX_VALUE:
            _refuse(f"`*` would make a value of over {MAX_VALUE:,} characters or items")
    elif operator == "+" and isinstance(left, str | list | tuple) and hasattr(right, "__len__"):
        if len(left) + len(right) > MAX_VALUE:
            _refuse(f"`+` would make a value of over {MAX_VALUE:,} characters or items")
    elif operator == "%" and isinstance(left, str | bytes):
        _refuse("`%` formatting of text is not allowed in spec templates; use `~` and filters")


def check_filter(name: str, value: Any, args: tuple[Any, ...]) -> None:
    """Refuse `join` and `replace` when their result would be too big, before they run."""
    if name == "join" and isinstance(value, list | tuple | range):
        separator = str(args[0]) if args else ""
        size = weight(value) + len(separator) * len(value)
        if size > MAX_VALUE:
            _refuse(f"`join` would make text of over {MAX_VALUE:,} characters")
    if name == "replace" and isinstance(value, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        count = value.count(old) if old else len(value) + 1
        if len(value) + count * (len(new) - len(old)) > MAX_VALUE:
            _refuse(f"`replace` would make text of over {MAX_VALUE:,} characters")
    current().step()


def counted(items: Iterable[Any]) -> Iterator[Any]:
    """A loop's items, each one a step of the render."""
    spent = current()
    for item in items:
        spent.step()
        yield item


def concatenated(parts: list[Any]) -> str:
    """`a ~ b ~ c`, as Jinja joins them, refused past MAX_VALUE characters."""
    texts = [str(part) for part in parts]
    if sum(map(len, texts)) > MAX_VALUE:
        _refuse(f"`~` would make text of over {MAX_VALUE:,} characters")
    joined: str = measured("".join(texts))
    return joined


def bounded_range(*args: int) -> range:
    """`range`, at most MAX_RANGE items (Python's own would take 10**18 and loop forever)."""
    try:
        numbers = range(*args)
        size = len(numbers)
    except OverflowError:
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        _refuse(f"`range` gives at most {MAX_RANGE:,} numbers")
    return numbers


bounded_range.__name__ = "range"
