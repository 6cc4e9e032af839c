"""A toy format, registered at run time by tests/spec/test_toy_format.py: one line per row,
its values joined by `sep`. It cannot be split and takes no outer compression."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import pandas as pd

from exportctl.errors import OptionError


@dataclass(frozen=True)
class ToyOptions:
    sep: str = "|"

    def __post_init__(self) -> None:
        if len(self.sep) != 1:
            raise OptionError("sep", f"`sep` must be one character, not {self.sep!r}")


class ToyEncoder:
    Options = ToyOptions
    extension = ".toy"

    def __init__(self, options: ToyOptions, stream: BinaryIO):
        self.sep = options.sep
        self.stream = stream

    def write(self, chunk: pd.DataFrame) -> None:
        for row in chunk.itertuples(index=False, name=None):
            self.stream.write((self.sep.join(map(str, row)) + "\n").encode())

    def close(self) -> None:
        """Nothing to end: each line stands alone."""
