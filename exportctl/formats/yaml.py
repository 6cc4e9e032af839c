"""YAML: one list of mappings, streamed a chunk at a time, read back by `yaml.safe_load`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import pandas as pd
import yaml

from exportctl.formats.base import python_columns

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class YamlOptions:
    pass


class YamlEncoder:
    """Every field kept, NULL as `null`, in field order; floats in their exact repr."""

    Options = YamlOptions
    extension = ".yaml"

    def __init__(self, options: YamlOptions, stream: BinaryIO):
        self.stream = stream
        self.empty = True

    def write(self, chunk: pd.DataFrame) -> None:
        names = [str(c) for c in chunk.columns]
        rows = [dict(zip(names, r, strict=True)) for r in zip(*python_columns(chunk), strict=True)]
        if rows:
            text = yaml.dump(
                rows, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30
            )
            self.stream.write(text.encode("utf-8"))
            self.empty = False

    def close(self) -> None:
        if self.empty:
            self.stream.write(b"[]\n")
