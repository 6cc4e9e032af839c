"""The `prometheus_text` source: a scrape in the text exposition format, as rows: a saved
file, or a `/metrics` endpoint read over HTTP(S) (headers and credentials as `http_json`).

Parsed by prometheus_client's parser, so escaped label values, NaN and infinities,
optional timestamps, histogram and summary samples (`_bucket`, `_sum`, `_count`)
read as Prometheus itself reads them. A sample without a timestamp has a NULL one.
Values keep their float bits: the parser reads `-0` as the integer 0, so such a value is
handed to it as `-0.0` (every other integer converts to the float its text names).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, cast

import pandas as pd
import requests
from prometheus_client.parser import text_fd_to_metric_families

from exportctl.errors import SourceError, TransientError
from exportctl.sources.base import Request, greatest_position
from exportctl.sources.prometheus.options import PrometheusTextOptions
from exportctl.sources.prometheus.rows import Rows, to_ms
from exportctl.sources.web import Client, safe_url


class PrometheusTextSource:
    Options = PrometheusTextOptions

    def __init__(self, options: PrometheusTextOptions, base_dir: Path):
        self.options = options
        self.path = Path(options.path).expanduser()
        if options.path and not self.path.is_absolute():
            self.path = base_dir / self.path
        #: How messages name the scrape: the file, or the URL without credentials or query.
        self.where = safe_url(options.url) if options.url else str(self.path)

    def describe(self, request: Request) -> dict[str, Any]:
        return {
            ("url" if self.options.url else "path"): self.where,
            "labels": self.options.labels,
            "filter": repr(request.query.where) if request.query.where else None,
        }

    def count(self, request: Request) -> int | None:
        return None

    def last_position(self, request: Request, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        return greatest_position(self.chunks(request), request, columns)

    def chunks(self, request: Request) -> Generator[pd.DataFrame, None, None]:
        rows = Rows(self.options.labels, self.options.label_columns, with_type=True)
        try:
            with self._lines() as lines:
                # The parser only iterates over its argument's lines: a generator of them serves.
                for family in text_fd_to_metric_families(cast(TextIO, signed_zeros(lines))):
                    for sample in family.samples:
                        if sample.native_histogram is not None:
                            raise SourceError(f"{self.where}: native histograms are not supported")
                        stamp = None if sample.timestamp is None else to_ms(float(sample.timestamp))
                        rows.add(
                            sample.name, sample.labels, [(stamp, float(sample.value))], family.type
                        )
                    if len(rows) >= self.options.chunk_size:
                        yield rows.frame(sort=False)
        except OSError as exc:
            raise SourceError(f"cannot read {self.where}: {exc.strerror}") from None
        except (ValueError, TypeError, IndexError) as exc:
            # The parser's messages name the line it could not read.
            raise SourceError(f"{self.where} is not in the Prometheus text format: {exc}") from None
        yield rows.frame(sort=False)

    def report(self) -> list[str]:
        return []

    def close(self) -> None:
        """Nothing stays open between chunks."""

    @contextmanager
    def _lines(self) -> Iterator[Iterable[str]]:
        """The scrape's lines, each with its line end: from the file, or from the endpoint's
        answer as it arrives (its credentials sent by `web.Client`, never shown)."""
        if not self.options.url:
            with self.path.open(encoding="utf-8") as lines:
                yield lines
            return
        options = self.options
        client = Client(options.auth, options.headers, timeout=options.timeout, pool=1)
        try:
            with client.get(options.url, stream=True) as response:
                yield _decoded(response.iter_lines(), self.where)
        finally:
            client.close()


def _decoded(lines: Iterator[bytes], where: str) -> Iterator[str]:
    """An answer's lines as text (the format is UTF-8); a connection that breaks off mid-body
    is transient, so the spec's `retry` scrapes again."""
    try:
        for line in lines:
            yield line.decode("utf-8") + "\n"
    except requests.RequestException:
        raise TransientError(f"{where}: the connection broke off while reading") from None
    except UnicodeDecodeError:
        raise SourceError(f"{where} answered with text that is not UTF-8") from None


#: An integer zero with a minus sign, which `int()` (the parser's first try) reads as 0.
_MINUS_ZERO = re.compile(r"-0+")


def signed_zeros(lines: Iterable[str]) -> Iterator[str]:
    """The lines, with a sample value written as a negative integer zero (`-0`, `-00`) spelled
    `-0.0`, which the parser reads as the float it is; nothing else changes."""
    for line in lines:
        if line.lstrip().startswith("#"):
            yield line
            continue
        end = _series_end(line)
        rest = line[end:]
        tokens = rest.split()
        if tokens and _MINUS_ZERO.fullmatch(tokens[0]):
            rest = rest.replace(tokens[0], "-0.0", 1)
        yield line[:end] + rest


def _series_end(line: str) -> int:
    """Where a sample line's name and label set end (the value follows): after the `}`
    closing the labels, whose quoted values may hold `}`, spaces and escaped quotes."""
    brace = line.find("{")
    space = min((i for i in (line.find(" "), line.find("\t")) if i >= 0), default=len(line))
    if brace < 0 or space < brace:
        return space
    quoted = escaped = False
    for index in range(brace + 1, len(line)):
        char = line[index]
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = quoted
        elif char == '"':
            quoted = not quoted
        elif char == "}" and not quoted:
            return index + 1
    return len(line)
