"""Encoding on its own thread: the same bytes in order, the first error, no write after it."""

from __future__ import annotations

import io
import threading

import pandas as pd
import pytest

from exportctl.formats.csv import CsvEncoder
from exportctl.formats.options import CsvOptions
from exportctl.run.background import BackgroundEncoder


def chunks(count: int, rows: int = 50) -> list[pd.DataFrame]:
    return [
        pd.DataFrame({"n": range(i * rows, (i + 1) * rows), "s": [f"row {i}"] * rows})
        for i in range(count)
    ]


def test_the_bytes_are_those_written_in_the_calling_thread() -> None:
    direct, background = io.BytesIO(), io.BytesIO()
    plain = CsvEncoder(CsvOptions(), direct)
    threaded = BackgroundEncoder(CsvEncoder(CsvOptions(), background))
    for chunk in chunks(40):
        plain.write(chunk)
        threaded.write(chunk)
    plain.close()
    threaded.close()

    assert background.getvalue() == direct.getvalue()
    assert len(direct.getvalue().splitlines()) == 1 + 40 * 50


class Failing(io.RawIOBase):
    """A stream that refuses every write after `room` bytes, counting the attempts."""

    def __init__(self, room: int):
        self.room, self.refused = room, 0
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data)
        if len(self.data) + view.nbytes > self.room:
            self.refused += 1
            raise OSError(28, "No space left on device")
        self.data += view
        return view.nbytes


def test_after_a_failed_write_nothing_more_is_written_and_its_error_is_raised() -> None:
    stream = Failing(room=3000)
    encoder = BackgroundEncoder(CsvEncoder(CsvOptions(), stream))  # type: ignore[arg-type]

    with pytest.raises(OSError, match="No space") as raised:
        for chunk in chunks(100):
            encoder.write(chunk)
        encoder.close()

    assert raised.value.errno == 28
    assert stream.refused == 1  # the chunks queued behind the failure were never written
    encoder.abandon()


def test_abandon_waits_for_the_write_under_way() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[int] = []

    class Slow:
        def write(self, chunk: pd.DataFrame) -> None:
            started.set()
            release.wait(5)
            finished.append(len(chunk))

        def close(self) -> None:
            raise AssertionError("an abandoned encoder is not closed")

    encoder = BackgroundEncoder(Slow())  # type: ignore[arg-type]
    encoder.write(chunks(1)[0])
    encoder.write(chunks(1)[0])
    assert started.wait(5)
    threading.Timer(0.2, release.set).start()
    encoder.abandon()

    assert finished == [50]  # the one under way ended; the queued one never ran
