"""The files one export writes: a single file, or parts of N rows or of N bytes as stored
(and, where the plan has several partitions, each partition's own parts).

Each part is committed on its own, as soon as it is full, so a failed run
keeps the parts it finished and its retry can go on from the first missing one.
Its name carries the run's tag (`uris.part_uri`), so it never replaces a part of
the previous run: that run's manifest still lists whole parts of that run until
this run's manifest, written last, replaces it (`leftovers` then removes them).
Parts after the first continue the document (a CSV header only once), so the
parts, concatenated in order, are the unsplit export.

A part split by bytes is measured after each write: the compressor is flushed and
the bytes that reached the destination counted. Each write takes the rows that,
at the part's bytes per row so far, fill half the room left, so a part closes
within about a row of its limit at the cost of a few small writes near its end.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any, BinaryIO, cast

import pandas as pd

from exportctl import compression, registry
from exportctl.destinations.base import Sink
from exportctl.destinations.uris import part_uri, tag_of_part
from exportctl.errors import RunError
from exportctl.formats.base import Encoder
from exportctl.plan.compiler import ExportPlan, Part
from exportctl.plan.incremental import Position
from exportctl.run.background import BackgroundEncoder

#: The share of a part's room left that one write aims to fill.
_FILL = 0.5


@dataclass
class _Open:
    stack: ExitStack
    sink: Sink
    encoder: Encoder | BackgroundEncoder
    capped: Capped | None
    #: What the encoder writes to (the compressor), flushed to measure `stored`.
    stream: BinaryIO
    #: The bytes that reached the destination, counted where the part is split by bytes.
    stored: Counted | None
    rows: int = 0
    last: Position | None = None


class FileSet:
    """Opens, fills and commits the export's files in order."""

    def __init__(self, plan: ExportPlan, on_commit: Callable[[Part], None], partitioned: bool):
        self.plan = plan
        destination = plan.spec.destination
        self.max_rows, self.max_bytes = destination.split_rows, destination.split_bytes
        #: Written as parts: the spec splits it, or partitions each end their own parts.
        self.split = destination.splits or partitioned
        self.on_commit = on_commit
        self.parts: list[Part] = list(plan.resume)
        self.current: _Open | None = None
        self.columns: list[str] = []
        #: Rows written by this run, committed or not.
        self.rows = 0
        #: The key range of the partition being written (`KeyRange.to_json`), for its parts.
        self.key_range: dict[str, Any] | None = None
        #: The keyed partition being written (`Partition.index`): its parts are named by it.
        self.partition: int | None = None
        #: How many of `parts` were written before that partition began.
        self.before_partition = 0

    def begin_partition(self, index: int | None, key_range: dict[str, Any] | None) -> None:
        """The rows that follow are the keyed partition `index`'s (None: not keyed)."""
        self.partition, self.key_range = index, key_range
        self.before_partition = len(self.parts)

    @property
    def leads(self) -> bool:
        """Whether the next file is the export's first: it holds the header, and is written
        even empty. A keyed partition after the first never leads, whichever engine runs
        it (a Dask worker writes it into a `FileSet` of its own)."""
        return not self.parts and self.partition in (None, 0)

    def write(self, chunk: pd.DataFrame, positions: pd.DataFrame | None) -> None:
        """Append rows; `positions` holds each row's (cursor, key) for incremental exports."""
        self.columns = self.columns or [str(c) for c in chunk.columns]
        if chunk.empty and self.leads and self.current is None:
            self._open().encoder.write(chunk)  # an empty export still gets its header
        start = 0
        while start < len(chunk):
            current = self.current or self._open()
            stop = start + self._rows_to_write(current, len(chunk) - start)
            current.encoder.write(chunk.iloc[start:stop])
            if current.capped is not None:
                current.capped.check()
            current.rows += stop - start
            self.rows += stop - start
            if positions is not None:
                current.last = tuple(positions.iloc[stop - 1])
            start = stop
            if self._full(current):
                self._commit()

    def close(self) -> list[Part]:
        """Commit the open file (a partition's last); every export has at least one (its
        first partition's, where it is partitioned)."""
        if self.current is None and self.leads:
            self._open()
        if self.current is not None:
            self._commit()
        return self.parts

    def abort(self, error: BaseException) -> None:
        """Discard the open file, leaving the committed ones."""
        if self.current is not None:
            self.current.stack.__exit__(type(error), error, error.__traceback__)
            self.current = None

    def discard_committed(self) -> None:
        """Delete the parts this run committed (not those kept from an earlier attempt)."""
        kept = len(self.plan.resume)
        for part in self.parts[kept:]:
            self.plan.destination_for(part.file.uri).delete(part.file.uri)
        del self.parts[kept:]

    def _rows_to_write(self, current: _Open, available: int) -> int:
        """How many of the `available` rows the next write into the open part takes."""
        rows = available if self.max_rows is None else min(available, self.max_rows - current.rows)
        if self.max_bytes is None or current.stored is None:
            return rows
        per_row = self._bytes_per_row(current)
        if per_row is None:
            return 1  # a first row, to learn the size of one
        room = self.max_bytes - current.stored.bytes
        return max(1, min(rows, int(room * _FILL / per_row)))

    def _bytes_per_row(self, current: _Open) -> float | None:
        """Stored bytes per row: the open part's so far, else the last committed part's."""
        if current.rows and current.stored is not None:
            return current.stored.bytes / current.rows
        done = [p for p in self.parts if p.rows]
        return done[-1].file.bytes / done[-1].rows if done else None

    def _full(self, current: _Open) -> bool:
        """Whether the open part has its rows, or stores its bytes (flushed to count them)."""
        if current.rows == self.max_rows:
            return True
        if self.max_bytes is None or current.stored is None:
            return False
        current.stream.flush()
        return current.stored.bytes >= self.max_bytes

    def _open(self) -> _Open:
        leads = self.leads
        uri = self.plan.destination
        if self.split:
            index = len(self.parts) - self.before_partition + 1
            uri = part_uri(uri, index, self.plan.parts_tag, self.partition)
        spec = self.plan.spec
        stack = ExitStack()
        sink = stack.enter_context(self.plan.destination_for(uri).open(uri))
        stored: BinaryIO = sink.stream
        capped = counted = None
        if spec.destination.max_bytes is not None:
            room = spec.destination.max_bytes - sum(p.file.bytes for p in self.parts)
            capped = Capped(sink.stream, room, spec.destination.max_bytes)
            stack.callback(capped.check)  # after the compressor's last bytes, before commit
            stored = cast(BinaryIO, capped)
        if self.max_bytes is not None:
            counted = Counted(stored)
            stored = cast(BinaryIO, counted)
        stream = stack.enter_context(
            compression.compressed(
                stored,
                self.plan.compression,
                spec.compression_level,
                compression.member_name(uri.rpartition("/")[2]),
            )
        )
        options = spec.format.options if leads else _continuing(spec.format.options)
        plain = registry.FORMATS[spec.format.type](options, stream)
        if discard := getattr(plain, "discard", None):  # runs after the encoder's thread ends
            stack.callback(discard)
        encoder: Encoder | BackgroundEncoder = plain
        if capped is None and counted is None:  # else each write's size is needed at once
            encoder = BackgroundEncoder(plain)
            stack.callback(encoder.abandon)  # runs before the streams under it close
        self.current = _Open(stack, sink, encoder, capped, stream, counted)
        return self.current

    def _commit(self) -> None:
        current = self.current
        assert current is not None
        current.encoder.close()  # should this fail, abort() still finds and discards the file
        self.current = None
        current.stack.close()
        assert current.sink.written is not None
        part = Part(current.sink.written, current.rows, current.last, self.key_range)
        self.parts.append(part)
        if self.split:
            self.on_commit(part)


def remove_run_parts(plan: ExportPlan) -> None:
    """Delete every part the plan's run stored, as the destination lists them: a
    partitioned run's parts, written in any order by any process, are found by its tag."""
    destination = plan.destination_for()
    for uri in destination.stored_parts(plan.destination):
        if tag_of_part(plan.destination, uri) == plan.parts_tag:
            destination.delete(uri)


class Counted(io.RawIOBase):
    """Passes every byte on and counts them: a part's size as stored, so far."""

    def __init__(self, target: BinaryIO):
        self.target = target
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        size = memoryview(data).nbytes
        self.target.write(data)
        self.bytes += size
        return size

    def close(self) -> None:
        super().close()  # the destination closes its own stream


class Capped(io.RawIOBase):
    """Passes on at most `room` bytes: the spec's `max_bytes`.

    Past the limit it swallows the bytes and `check` raises. It never raises from
    `write` itself: a threaded compressor would call it from its own thread.
    """

    def __init__(self, target: BinaryIO, room: int, limit: int):
        self.target, self.room, self.limit = target, room, limit
        self.exceeded = False

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        size = memoryview(data).nbytes
        if self.exceeded or size > self.room:
            self.exceeded = True
            return size
        self.room -= size
        return self.target.write(data)

    def check(self) -> None:
        if self.exceeded:
            raise RunError(
                f"the export would exceed `max_bytes` ({self.limit:,} bytes as stored); "
                "nothing was written. Raise the limit, or narrow the export"
            )

    def close(self) -> None:
        super().close()  # the destination closes its own stream


def _continuing(options: Any) -> Any:
    """Options for a part that continues the document: no second CSV header."""
    return replace(options, header=False) if getattr(options, "header", False) else options
