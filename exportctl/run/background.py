"""An encoder's writes on a thread of their own.

While one chunk is encoded, compressed, hashed and written (Arrow's writers, the
compressors, hashlib and file writes release the GIL), the next is read and
transformed. Writes stay in order, one at a time; at most `depth` chunks wait, so
memory stays that of a few chunks.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait

import pandas as pd

from exportctl.formats.base import Encoder


class BackgroundEncoder:
    def __init__(self, encoder: Encoder, depth: int = 2):
        self.encoder, self.depth = encoder, depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
        self._pending: deque[Future[None]] = deque()
        self._failed = False

    def write(self, chunk: pd.DataFrame) -> None:
        """Queue the chunk; an earlier write's error is raised here."""
        while len(self._pending) >= self.depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, chunk))

    def close(self) -> None:
        """Finish every write, then the encoder's trailer."""
        while self._pending:
            self._pending.popleft().result()
        self.encoder.close()
        self._pool.shutdown()

    def _write(self, chunk: pd.DataFrame) -> None:
        if self._failed:  # the stream is broken; the first error is the one to report
            return
        try:
            self.encoder.write(chunk)
        except BaseException:
            self._failed = True
            raise

    def abandon(self) -> None:
        """Stop before the stream closes under a write: the part is being discarded."""
        for future in self._pending:
            future.cancel()
        wait(self._pending)
        self._pending.clear()
        self._pool.shutdown()
