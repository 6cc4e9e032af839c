"""Hypothesis strategies shared by the format tests: hostile values in Arrow-backed frames."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa
from hypothesis import strategies as st

# Characters that trip writers and readers: quotes, delimiters, every kind of line
# break, control characters (no NUL), a BOM, right-to-left text, emoji, CJK.
HOSTILE_CHARACTERS = (
    *"\"',;|\t\n\r\\ %_#@:/",
    *(chr(c) for c in range(1, 32)),
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\u200f",
    "é",
    "ß",
    "中",
    "文",
    "ע",
    "ب",
    "😀",
    "🔑",
)

# Text that looks like something else: a NULL marker, a number, a boolean.
IMPOSTOR_STRINGS = ("", " ", "\\N", "NULL", "null", "NaN", "-0", "1e5", "true", '""', "\r\n")

hostile_text = st.one_of(
    st.sampled_from(IMPOSTOR_STRINGS),
    st.text(
        st.one_of(
            st.sampled_from(HOSTILE_CHARACTERS),
            st.characters(codec="utf-8", exclude_characters="\x00"),
        ),
        max_size=12,
    ),
)

INT64_EDGES = (2**63 - 1, -(2**63), 0, -1, 2**53 + 1, -(2**53) - 1)
int64s = st.one_of(st.sampled_from(INT64_EDGES), st.integers(-(2**63), 2**63 - 1))

FLOAT64_EDGES = (
    -0.0,
    0.0,
    5e-324,  # the smallest subnormal
    -5e-324,
    2.225073858507201e-308,  # the largest subnormal
    2.2250738585072014e-308,  # the smallest normal
    1.7976931348623157e308,
    -1.7976931348623157e308,
    0.1 + 0.2,  # needs 17 significant digits
    1 / 3,
    1e22,
    9007199254740993.0,
    123456789.12345679,
)
float64s = st.one_of(
    st.sampled_from(FLOAT64_EDGES), st.floats(allow_nan=False, allow_infinity=False)
)

# Zones with odd offsets (+05:30, -03:30, +12:45, +14:00) and daylight saving.
ZONES = ("UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham", "Pacific/Kiritimati")

naive_timestamps = st.datetimes(
    min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
)


def aware_timestamps(zone: str) -> st.SearchStrategy[dt.datetime]:
    # A year away from 1 and 9999, so converting to UTC never leaves the calendar.
    return st.datetimes(
        min_value=dt.datetime(2, 1, 1),
        max_value=dt.datetime(9998, 12, 31),
        timezones=st.just(ZoneInfo(zone)),
        allow_imaginary=False,
    )


COLUMNS = ("text", "int", "float", "bool", "naive_ts", "aware_ts")


@dataclass(frozen=True)
class HostileData:
    """Chunks as an encoder receives them, and every row as it must read back."""

    chunks: list[pd.DataFrame]
    rows: list[dict[str, Any]]  # timestamps as aware UTC datetimes
    zone: str


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """The instant a timestamp stands for; naive ones are UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


@st.composite
def hostile_data(draw: st.DrawFn, max_rows: int = 8) -> HostileData:
    """Arrow-backed columns of every kind, NULLs anywhere, cut into chunks (some empty)."""
    n = draw(st.integers(0, max_rows))
    zone = draw(st.sampled_from(ZONES))
    values = {
        "text": hostile_text,
        "int": int64s,
        "float": float64s,
        "bool": st.booleans(),
        "naive_ts": naive_timestamps,
        "aware_ts": aware_timestamps(zone),
    }
    data: dict[str, list[Any]] = {
        name: draw(st.lists(st.none() | strategy, min_size=n, max_size=n))
        for name, strategy in values.items()
    }
    schema = pa.schema(
        [
            ("text", pa.string()),
            ("int", pa.int64()),
            ("float", pa.float64()),
            ("bool", pa.bool_()),
            ("naive_ts", pa.timestamp("us")),
            ("aware_ts", pa.timestamp("us", tz=zone)),
        ]
    )
    frame = pa.Table.from_pydict(data, schema).to_pandas(types_mapper=pd.ArrowDtype)
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    bounds = [0, *cuts, n]
    chunks = [frame.iloc[start:end] for start, end in itertools.pairwise(bounds)]
    rows = [
        {name: as_utc(data[name][i]) if name.endswith("_ts") else data[name][i] for name in COLUMNS}
        for i in range(n)
    ]
    return HostileData(chunks, rows, zone)
