"""The `prometheus` source: a PromQL query against a server's HTTP API, as rows.

A range query's points lie on multiples of its `step` since the epoch and are
fetched in windows of at most `max_points` per series, `concurrency` at a time,
and yielded in time order. The range comes from the filter the runner hands over
(the spec's `time_range`, an incremental window) or else from `since`/`until`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from exportctl.clock import SYSTEM, Clock
from exportctl.errors import SourceError
from exportctl.lang import timerange
from exportctl.sources.base import KeyBounds, Request
from exportctl.sources.prometheus.bounds import time_bounds
from exportctl.sources.prometheus.options import PrometheusOptions
from exportctl.sources.prometheus.rows import Rows, parse_value, to_ms
from exportctl.sources.prometheus.windows import points, seconds, windows
from exportctl.sources.web import Client, safe_url
from exportctl.transforms.filter import apply_filter

#: The order rows come in; `query.order_by` may ask for a prefix of it, nothing else.
ORDER = ("timestamp", "series")


class PrometheusSource:
    Options = PrometheusOptions

    def __init__(self, options: PrometheusOptions, base_dir: Path, clock: Clock = SYSTEM):
        self.options = options
        self.clock = clock
        self.warnings: list[str] = []
        self._client: Client | None = None

    def describe(self, request: Request) -> dict[str, Any]:
        start, end = self._range(request, strict=False)
        found: dict[str, Any] = {
            "url": safe_url(self.options.url),
            "query": self.options.query,
            "mode": self.options.mode,
            "labels": self.options.labels,
            "filter": repr(request.query.where) if request.query.where else None,
        }
        if self.options.mode == "instant":
            return found | {"time": _iso(end)}
        cut = windows(start, end, self.options.step_ms, self.options.max_points) if start else []
        return found | {
            "from": _iso(start),
            "to": _iso(end),
            "step": self.options.step,
            "requests": len(cut),
        }

    def count(self, request: Request) -> int | None:
        return None

    def key_bounds(self, request: Request, key: str, size: int | None = None) -> KeyBounds:
        """The range's first and last points as the `timestamp` bounds (no request made);
        `rows` counts the points of one series, the least a range of them can hold."""
        if self.options.mode == "instant":
            raise SourceError("an instant query is one moment in time: it has no partitions")
        start, end = self._range(request)
        assert start is not None
        step = self.options.step_ms
        first, last = points(start, end, step)
        if first > last:
            return KeyBounds(None, None, 0, 0, nullable=False)
        low, high = (pd.Timestamp(ms, unit="ms", tz="UTC").to_pydatetime() for ms in (first, last))
        return KeyBounds(low, high, (last - first) // step + 1, 0, nullable=False)

    def last_position(self, request: Request, columns: tuple[str, ...]) -> tuple[Any, ...] | None:
        """Found from the end: the windows are read newest first until one holds a row."""
        rows = Rows(self.options.labels, self.options.label_columns)
        for window in reversed(self._windows(request)):
            frame = self._filtered(self._fetch(window, rows), request)
            if not frame.empty:
                best = max(frame[list(columns)].dropna().itertuples(index=False, name=None))
                return tuple(v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in best)
        return None

    def chunks(self, request: Request) -> Generator[pd.DataFrame, None, None]:
        self._check_order(request)
        rows = Rows(self.options.labels, self.options.label_columns)
        yielded = False
        for frame in self._fetched(self._windows(request), rows):
            frame = self._filtered(frame, request)
            if not frame.empty:
                yielded = True
                yield frame
        if not yielded:  # one chunk, empty, so the columns are known
            yield rows.frame()

    def report(self) -> list[str]:
        return [f"Prometheus warned: {w}" for w in dict.fromkeys(self.warnings)]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- the range and its windows -------------------------------------------------

    def _range(self, request: Request, strict: bool = True) -> tuple[int | None, int]:
        """[start, end] in ms: the filter's bounds on `timestamp`, else `since`/`until`."""
        bounds = time_bounds(request.query.where, "timestamp")
        now = self.clock.now()
        start = bounds.start
        if start is None and self.options.since is not None:
            start = pd.Timestamp(timerange.instant(self.options.since, now, UTC))
        end = bounds.end or pd.Timestamp(timerange.instant(self.options.until, now, UTC))
        last = _ms(end)
        if bounds.end_excluded:  # the last whole millisecond before it: its point passes `<`
            last = -(-pd.Timestamp(end).value // 1_000_000) - 1
        if start is None and self.options.mode == "range" and strict:
            raise SourceError(
                "a range query needs a start: give the spec a `time_range` on `timestamp`, "
                "or the source a `since`"
            )
        return (None if start is None else _ms(start)), last

    def _windows(self, request: Request) -> list[tuple[int, int]]:
        start, end = self._range(request)
        if self.options.mode == "instant":
            return [(end, end)]
        assert start is not None
        return windows(start, end, self.options.step_ms, self.options.max_points)

    def _check_order(self, request: Request) -> None:
        asked = request.query.order_by
        if any(k.descending for k in asked) or tuple(k.field for k in asked) != ORDER[: len(asked)]:
            raise SourceError(
                "a `prometheus` source returns rows by `timestamp`, then `series`, and cannot "
                "sort otherwise: `order_by` may be `[timestamp]` or `[timestamp, series]`"
            )

    # --- fetching ----------------------------------------------------------------------

    def _fetched(self, cut: list[tuple[int, int]], rows: Rows) -> Iterator[pd.DataFrame]:
        """The windows' rows in order, `concurrency` requests in flight at most."""
        pool = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="prometheus")
        pending: deque[Future[Any]] = deque()
        todo = iter(cut)
        try:
            for window in todo:
                pending.append(pool.submit(self._get, window))
                if len(pending) == self.options.concurrency:
                    break
            while pending:
                answer = pending.popleft().result()
                following = next(todo, None)
                if following is not None:
                    pending.append(pool.submit(self._get, following))
                yield self._framed(answer, rows)
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)

    def _fetch(self, window: tuple[int, int], rows: Rows) -> pd.DataFrame:
        return self._framed(self._get(window), rows)

    def _get(self, window: tuple[int, int]) -> dict[str, Any]:
        """The `data` of one query's answer."""
        options = self.options
        if options.mode == "instant":
            path, params = "api/v1/query", {"query": options.query, "time": seconds(window[1])}
        else:
            path = "api/v1/query_range"
            params = {
                "query": options.query,
                "start": seconds(window[0]),
                "end": seconds(window[1]),
                "step": seconds(options.step_ms),
            }
        url = f"{options.url.rstrip('/')}/{path}"
        with self.client.get(url, params) as response:
            try:
                body = response.json()
            except (ValueError, requests.RequestException):
                raise SourceError(f"{safe_url(url)} answered with something not JSON") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise SourceError(f"{safe_url(url)} refused the query: {error or 'no reason given'}")
        self.warnings.extend(body.get("warnings") or ())
        data: dict[str, Any] = body["data"]
        return data

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(
                self.options.auth, timeout=self.options.timeout, pool=self.options.concurrency
            )
        return self._client

    def _framed(self, data: dict[str, Any], rows: Rows) -> pd.DataFrame:
        kind, result = data.get("resultType"), data.get("result")
        if kind in ("scalar", "string"):
            rows.add(None, {}, [_point(result, kind)])
            return rows.frame()
        for item in result or ():
            if "histogram" in item or "histograms" in item:
                raise SourceError("native histograms are not supported; query their buckets")
            labels = dict(item.get("metric") or {})
            name = labels.pop("__name__", None)
            points = [item["value"]] if "value" in item else item.get("values") or []
            rows.add(name, labels, [_point(p, kind) for p in points])
        return rows.frame()

    def _filtered(self, frame: pd.DataFrame, request: Request) -> pd.DataFrame:
        return apply_filter(frame, request.query.where)


def _point(point: Any, kind: Any) -> tuple[int, float]:
    try:
        stamp, value = point
        return to_ms(float(stamp)), parse_value(value)
    except (TypeError, ValueError):
        raise SourceError(f"a {kind} sample the source cannot read: {str(point)[:100]}") from None


def _ms(stamp: pd.Timestamp | datetime) -> int:
    """An instant in whole milliseconds, rounded down: a start fetches a little early (the
    filter drops what is before it); an end, inclusive, loses nothing."""
    return int(pd.Timestamp(stamp).value // 1_000_000)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else f"{pd.Timestamp(ms, unit='ms', tz='UTC'):%Y-%m-%dT%H:%M:%S.%fZ}"
