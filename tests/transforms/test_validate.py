"""Validation: declared checks and format problems split a chunk into valid and invalid rows.

Each rule is tested across the dtypes chunks arrive in (NumPy, pandas nullable, Arrow,
object mixes); a property test compares every verdict with a per-row Python oracle; the
format hooks are held to the encoders themselves: a row is flagged iff `write` refuses it.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exportctl.errors import RunError
from exportctl.formats.csv import CsvEncoder
from exportctl.formats.json import JsonEncoder, JsonlEncoder
from exportctl.formats.options import (
    CsvOptions,
    JsonlOptions,
    JsonOptions,
    TextOptions,
    YamlOptions,
)
from exportctl.formats.parquet import ParquetEncoder
from exportctl.formats.text import TextEncoder
from exportctl.formats.yaml import YamlEncoder
from exportctl.model import Check, Field
from exportctl.transforms.validate import Verdict, checks_of, validate

UTC = dt.UTC


def arrow(values: list[Any], type_: pa.DataType | None = None) -> pd.Series:
    """An Arrow-backed column as sources make them; NaN stays NaN, not NULL."""
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.array(values, type_)))


def invalid_rows(series: pd.Series, check: Check) -> list[int]:
    verdict = validate(pd.DataFrame({"x": series}), {"x": check})
    assert len(verdict.reasons) == len(verdict.invalid)
    return verdict.invalid.index.tolist()


def assert_partition(chunk: pd.DataFrame, verdict: Verdict) -> None:
    """Nothing lost, nothing twice, both halves in the chunk's order."""
    for half in (verdict.valid, verdict.invalid):
        assert list(half.columns) == list(chunk.columns)
        assert half.index.is_monotonic_increasing
    together = pd.concat([verdict.valid, verdict.invalid]).sort_index()
    pd.testing.assert_frame_equal(together, chunk, check_dtype=True)
    assert len(verdict.reasons) == len(verdict.invalid)


# --- types ------------------------------------------------------------------------------

MIXED = [1, 2.0, "3", True, None, Decimal("4"), np.int64(5), np.float64(6.5), float("nan")]
STAMPS = [dt.datetime(2024, 1, 2, tzinfo=UTC), pd.NaT, pd.Timestamp("2024-01-03", tz="UTC")]

# (column, declared type, the rows that break it)
TYPE_CASES = {
    "int64-integer": (pd.Series([1, -(2**63), 2**63 - 1]), "integer", []),
    "int64-number": (pd.Series([1, 2]), "number", []),
    "int64-string": (pd.Series([1, 2]), "string", [0, 1]),
    "int64-boolean": (pd.Series([1, 0]), "boolean", [0, 1]),
    "Int64-integer": (pd.Series([1, None, 3], dtype="Int64"), "integer", []),
    "Int64-timestamp": (pd.Series([1, None], dtype="Int64"), "timestamp", [0]),
    "float64-integer": (pd.Series([1.0, np.nan, 3.5]), "integer", [0, 2]),
    "float64-number": (pd.Series([1.0, np.nan, np.inf]), "number", []),
    "uint64-integer": (pd.Series(np.array([2**64 - 1], dtype=np.uint64)), "integer", []),
    "object-integer": (pd.Series(MIXED, dtype=object), "integer", [1, 2, 3, 5, 7]),
    "object-number": (pd.Series(MIXED, dtype=object), "number", [2, 3]),
    "object-string": (pd.Series(MIXED, dtype=object), "string", [0, 1, 3, 5, 6, 7]),
    "object-boolean": (pd.Series(MIXED, dtype=object), "boolean", [0, 1, 2, 5, 6, 7]),
    "bool-boolean": (pd.Series([True, False]), "boolean", []),
    "bool-integer": (pd.Series([True, False]), "integer", [0, 1]),
    "bool-number": (pd.Series([True, False]), "number", [0, 1]),
    "boolean-boolean": (pd.Series([True, None], dtype="boolean"), "boolean", []),
    "str-string": (pd.Series(["a", None, ""]), "string", []),
    "str-integer": (pd.Series(["1", None]), "integer", [0]),
    "utc-timestamp": (pd.Series(pd.to_datetime(["2024-01-01", None], utc=True)), "timestamp", []),
    "utc-date": (pd.Series(pd.to_datetime(["2024-01-01", None], utc=True)), "date", [0]),
    "naive-timestamp": (pd.Series(pd.to_datetime(["2024-01-01"])), "timestamp", []),
    "object-timestamps": (pd.Series(STAMPS, dtype=object), "timestamp", []),
    "object-dates": (
        pd.Series([dt.date(2024, 1, 1), dt.datetime(2024, 1, 1), None], dtype=object),
        "date",
        [1],
    ),
    "object-date-timestamp": (pd.Series([dt.date(2024, 1, 1)], dtype=object), "timestamp", [0]),
    "arrow-int-integer": (arrow([1, None], pa.int32()), "integer", []),
    "arrow-int-number": (arrow([1, None]), "number", []),
    "arrow-float-integer": (arrow([1.0, None]), "integer", [0]),
    "arrow-nan-number": (arrow([float("nan"), 1.5]), "number", []),
    "arrow-decimal-number": (arrow([Decimal("1.5"), None]), "number", []),
    "arrow-decimal-integer": (arrow([Decimal("1"), None]), "integer", [0]),
    "arrow-string-string": (arrow(["a", None]), "string", []),
    "arrow-string-number": (arrow(["1.5", None]), "number", [0]),
    "arrow-bool-boolean": (arrow([True, None]), "boolean", []),
    "arrow-bool-integer": (arrow([True, None]), "integer", [0]),
    "arrow-timestamp": (
        arrow([dt.datetime(2024, 1, 1)], pa.timestamp("us", "UTC")),
        "timestamp",
        [],
    ),
    "arrow-date-date": (arrow([dt.date(2024, 1, 1), None]), "date", []),
    "arrow-date-timestamp": (arrow([dt.date(2024, 1, 1), None]), "timestamp", [0]),
    "arrow-all-null": (arrow([None, None]), "integer", []),
}


@pytest.mark.parametrize("case", TYPE_CASES, ids=str)
def test_types_are_checked_not_converted(case: str) -> None:
    series, declared, broken = TYPE_CASES[case]
    assert invalid_rows(series, Check(type=declared)) == broken


def test_a_wrong_type_names_the_value_and_the_type() -> None:
    chunk = pd.DataFrame({"port": pd.Series(["80", 3.0, 8080], dtype=object)})
    verdict = validate(chunk, {"port": Check(type="integer")})
    assert verdict.reasons == ["port: '80' is not an integer", "port: 3.0 is not an integer"]


# --- NULL -------------------------------------------------------------------------------

NULL_COLUMNS = {
    "none-in-object": pd.Series(["a", None], dtype=object),
    "nan-in-float64": pd.Series([1.5, np.nan]),
    "nat-in-datetime": pd.Series(pd.to_datetime(["2024-01-01", None], utc=True)),
    "na-in-Int64": pd.Series([1, pd.NA], dtype="Int64"),
    "nan-in-str": pd.Series(["a", None]),
    "null-in-arrow": arrow(["a", None]),
    "nat-in-object": pd.Series([dt.datetime(2024, 1, 1), pd.NaT], dtype=object),
}


@pytest.mark.parametrize("name", NULL_COLUMNS)
def test_null_is_judged_by_nullable_alone(name: str) -> None:
    series = NULL_COLUMNS[name]
    assert invalid_rows(series, Check(nullable=False)) == [1]
    assert invalid_rows(series, Check(nullable=True)) == []
    # Every other check lets NULL pass, even one no value could meet.
    strict = Check(type="boolean", allowed=("zzz",), pattern="zzz", min=1e300, max=1e300)
    assert 1 not in invalid_rows(series, strict)
    assert validate(pd.DataFrame({"x": series}), {"x": Check(nullable=False)}).reasons == [
        "x: NULL not allowed"
    ]


def test_nan_in_an_arrow_column_is_a_value_not_null() -> None:
    series = arrow([float("nan"), 1.0])
    assert invalid_rows(series, Check(nullable=False)) == []
    assert invalid_rows(series, Check(min=0)) == [0]
    assert invalid_rows(series, Check(max=0)) == [0, 1]
    verdict = validate(pd.DataFrame({"x": series}), {"x": Check(min=0)})
    assert verdict.reasons == ["x: nan cannot be compared with the min 0"]


# --- allowed ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("series", "allowed", "broken"),
    [
        (pd.Series(["http", "ftp", None]), ("http", "https"), [1]),
        (arrow(["http", "ftp", None]), ("http", "https"), [1]),
        (pd.Series([1, 2, 3]), (1.0, 3), [1]),  # 1 == 1.0: by value
        (pd.Series([1, 2]), (1.5, 2.5), [0, 1]),
        (pd.Series([1.0, 2.5, np.nan]), (1, 2.5), []),
        (arrow([1.0, float("nan")]), (1, float("nan")), [1]),  # NaN equals nothing
        (pd.Series([2**63 - 1]), (float(2**63),), [0]),  # no rounding to float
        (pd.Series([float(2**63)]), (2**63 - 1,), [0]),
        (pd.Series([np.int64(2**63 - 1)], dtype=object), (float(2**63),), [0]),
        (pd.Series([True, False]), (1,), [0, 1]),  # a bool is not a number
        (pd.Series([1, 0]), (True,), [0, 1]),
        (pd.Series([True, False]), (True,), [1]),
        (pd.Series(["1", 1, 1.0, True, None], dtype=object), (1,), [0, 3]),
        (pd.Series([Decimal("1.5"), None], dtype=object), (1.5,), []),
        (pd.Series(pd.to_datetime(["2024-01-01"], utc=True)), ("2024-01-01",), [0]),
    ],
)
def test_allowed_compares_by_value(series: pd.Series, allowed: tuple[Any, ...], broken: list[int]):
    assert invalid_rows(series, Check(allowed=allowed)) == broken


def test_allowed_reason_lists_the_values() -> None:
    verdict = validate(pd.DataFrame({"p": ["ftp"]}), {"p": Check(allowed=("http", "socks5"))})
    assert verdict.reasons == ["p: 'ftp' is not one of 'http', 'socks5'"]


# --- pattern ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("series", "pattern", "broken"),
    [
        (pd.Series(["abc", "xabcx", "ab", None]), "abc", [1, 2]),  # full match, not search
        (pd.Series(["abc", "abc\n"]), "^[a-z]+$", [1]),
        (pd.Series(["a1", "b2", "a1"]), "a.", [1]),
        (arrow(["10.0.0.1", "host name", None]), r"[0-9.]+", [1]),
        (pd.Series(["١٢٣", "12x"]), r"\d+", [1]),  # Python's \d, as the loader compiled it
        (pd.Series(["foo.com", "foo.org"]), r"\w+(?=\.com)\.com", [1]),  # lookahead: not RE2
        (pd.Series([1, "1", None, 1.5], dtype=object), r"1", [0, 3]),  # non-text fails
        (pd.Series([1, 2]), r"\d", [0, 1]),
        (pd.Series([[1], "a"], dtype=object), "a", [0]),  # unhashable values
    ],
)
def test_pattern_must_match_the_whole_text(series: pd.Series, pattern: str, broken: list[int]):
    assert invalid_rows(series, Check(pattern=pattern)) == broken


# --- min and max ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("series", "check", "broken"),
    [
        (pd.Series([0, 1, 65535, 65536]), Check(min=1, max=65535), [0, 3]),  # inclusive
        (pd.Series([1, 2, None], dtype="Int64"), Check(min=1.5), [0]),
        (arrow([1, 2, None], pa.int8()), Check(min=1000), [0, 1]),
        (arrow([1, 2, None], pa.int8()), Check(max=-1000.5), [0, 1]),
        (pd.Series([2**53 + 1]), Check(max=2**53), [0]),  # exact: no float rounding
        (pd.Series([2**63 - 1, -(2**63)]), Check(min=-1e300, max=1e300), []),
        (pd.Series([2**63 - 1], dtype="Int64"), Check(min=2.0**63), [0]),
        (pd.Series([np.int64(2**63 - 1)], dtype=object), Check(min=2.0**63), [0]),
        (pd.Series(np.array([2**64 - 1], dtype=np.uint64)), Check(max=2**64 - 2), [0]),
        (pd.Series([0.5, 1.0, np.inf, -np.inf, np.nan]), Check(min=1.0), [0, 3]),
        (pd.Series([5]), Check(max=math.inf), []),
        (pd.Series([5]), Check(min=math.inf), [0]),
        (pd.Series(["5", 5, True, None, Decimal("5")], dtype=object), Check(min=1), [0, 2]),
        (arrow([Decimal("0.1"), Decimal("0.3")]), Check(max=0.2), [1]),
        (pd.Series(["a"]), Check(max=1), [0]),  # not a number, so not within
        (pd.Series(pd.to_datetime(["2024-01-01"])), Check(min=0), [0]),
    ],
)
def test_min_and_max_compare_numbers(series: pd.Series, check: Check, broken: list[int]):
    assert invalid_rows(series, check) == broken


def test_range_reasons() -> None:
    chunk = pd.DataFrame({"port": pd.Series([0, 70000, "x"], dtype=object)})
    verdict = validate(chunk, {"port": Check(min=1, max=65535)})
    assert verdict.reasons == [
        "port: 0 is below the min 1",
        "port: 70000 is above the max 65535",
        "port: 'x' is not a number, so cannot meet the min 1",
    ]


# --- verdicts ---------------------------------------------------------------------------


def test_one_reason_names_every_broken_field_and_rows_keep_their_order() -> None:
    chunk = pd.DataFrame(
        {
            "host": ["a.example", None, "b.example", None, "c.example"],
            "port": [80, 70000, 8080, 65536, 443],
            "protocol": ["http", "http", "gopher", "https", "https"],
        },
        index=[10, 11, 12, 13, 14],
    )
    checks = {
        "host": Check(nullable=False),
        "port": Check(type="integer", max=65535),
        "protocol": Check(allowed=("http", "https")),
    }
    verdict = validate(chunk, checks)
    assert verdict.valid.index.tolist() == [10, 14]
    assert verdict.invalid.index.tolist() == [11, 12, 13]
    assert verdict.reasons == [
        "host: NULL not allowed; port: 70000 is above the max 65535",
        "protocol: 'gopher' is not one of 'http', 'https'",
        "host: NULL not allowed; port: 65536 is above the max 65535",
    ]
    assert_partition(chunk, verdict)


def test_a_field_reports_its_first_broken_rule_only() -> None:
    verdict = validate(pd.DataFrame({"x": ["abc"]}), {"x": Check(type="integer", min=1)})
    assert verdict.reasons == ["x: 'abc' is not an integer"]


def test_long_values_are_cut_in_reasons() -> None:
    long = "x" * 10_000
    verdict = validate(pd.DataFrame({"x": [long]}), {"x": Check(pattern="y", allowed=("y" * 99,))})
    (reason,) = verdict.reasons
    assert len(reason) < 200
    assert reason.startswith("x: 'xxxx") and "…" in reason


def test_no_checks_and_no_hook_return_the_chunk_itself() -> None:
    chunk = pd.DataFrame({"x": [1, None]})
    for checks in ({}, {"x": Check()}):
        verdict = validate(chunk, checks)
        assert verdict.valid is chunk
        assert verdict.invalid.empty and list(verdict.invalid.columns) == ["x"]
        assert verdict.reasons == []
    assert validate(chunk, {}, ParquetEncoder).valid is chunk  # no hook
    assert validate(chunk, {}, JsonlEncoder).valid is chunk  # a hook with nothing to say
    assert validate(chunk, {"x": Check(type="number")}).valid is chunk


def test_an_empty_chunk_is_all_valid() -> None:
    chunk = pd.DataFrame({"x": pd.Series([], dtype="int64")})
    assert validate(chunk, {"x": Check(nullable=False)}, JsonEncoder).valid is chunk


def test_a_checked_field_missing_from_the_chunk_is_a_user_error() -> None:
    chunk = pd.DataFrame({"port": [1], "host": ["a"]})
    with pytest.raises(RunError, match=r"field `prot` .* did you mean `port`\?"):
        validate(chunk, {"prot": Check(type="integer")})
    with pytest.raises(RunError, match="the fields are port, host"):
        validate(chunk, {"zzz": Check(nullable=False)})


def test_checks_of_keeps_fields_that_declare_one() -> None:
    port = Check(type="integer", min=1)
    fields = (
        Field("host", "host"),
        Field("port_number", "port", check=port),
        Field("line", None, "{{ host }}", Check(nullable=False)),
    )
    assert checks_of(fields) == {"port_number": port, "line": Check(nullable=False)}
    assert checks_of(None) == {}


# --- format problems --------------------------------------------------------------------


def refuses(encoder: Any, options: Any, chunk: pd.DataFrame) -> bool:
    """Whether the encoder itself fails on this chunk (any error: YAML's is not ours)."""
    try:
        writer = encoder(options, io.BytesIO())
        writer.write(chunk)
        writer.close()
    except Exception:
        return True
    return False


HOSTILE = pd.DataFrame(
    {
        "f": arrow([1.5, float("nan"), float("inf"), None, -float("inf"), 2.0, 0.0, 1.0, 3.0]),
        "g": [1.0, np.nan, 2.0, np.inf, 0.0, 1.0, 1.0, 1.0, 1.0],
        "b": pd.Series([None, None, None, None, None, b"\xff", b"ok", None, None], dtype=object),
        "d": pd.Series([None] * 7 + [Decimal("1.5"), None], dtype=object),
        "t": pd.Series([None] * 8 + [dt.time(1, 2)], dtype=object),
    }
)
FORMATS = {
    "jsonl": (JsonlEncoder, JsonlOptions()),
    "json": (JsonEncoder, JsonOptions()),
    "json-indented": (JsonEncoder, JsonOptions(indent=2)),
    "csv": (CsvEncoder, CsvOptions()),
    "yaml": (YamlEncoder, YamlOptions()),
}


@pytest.mark.parametrize("name", FORMATS)
def test_a_row_is_flagged_iff_its_format_refuses_it(name: str) -> None:
    encoder, options = FORMATS[name]
    verdict = validate(HOSTILE, {}, encoder, options=options)
    assert_partition(HOSTILE, verdict)
    for position in range(len(HOSTILE)):
        row = HOSTILE.iloc[[position]]
        flagged = position in verdict.invalid.index
        assert flagged == refuses(encoder, options, row), (name, position, verdict.reasons)
    assert not refuses(encoder, options, verdict.valid)


def test_json_names_the_value_it_cannot_hold() -> None:
    strict = JsonlOptions(non_finite="error")
    verdict = validate(HOSTILE[["f", "g"]], {}, JsonlEncoder, options=strict)
    assert verdict.invalid.index.tolist() == [1, 2, 3, 4]
    assert verdict.reasons == [
        "f: nan cannot be written as JSON",
        "f: inf cannot be written as JSON",
        "g: inf cannot be written as JSON",
        "f: -inf cannot be written as JSON",
    ]


def test_a_time_of_day_is_refused_only_by_indented_json() -> None:
    chunk = HOSTILE[["t"]]
    assert validate(chunk, {}, JsonEncoder).valid is chunk
    assert validate(chunk, {}, JsonEncoder, options=JsonOptions(indent=2)).invalid.index == [8]


def test_timestamps_finer_than_a_microsecond_are_flagged() -> None:
    stamps = pd.Series(
        pd.to_datetime(["2024-01-01T00:00:00.000001", "2024-01-01T00:00:00.000000001"], utc=True)
    )
    chunk = pd.DataFrame({"at": stamps.astype("datetime64[ns, UTC]")})
    verdict = validate(chunk, {}, CsvEncoder)
    assert verdict.invalid.index.tolist() == [1]
    assert "finer than a microsecond" in verdict.reasons[0]
    assert validate(chunk, {}, ParquetEncoder).valid is chunk


def test_format_problems_join_the_check_reasons() -> None:
    chunk = pd.DataFrame({"score": [1.0, np.inf], "host": [None, None]})
    strict = JsonlOptions(non_finite="error")
    verdict = validate(chunk, {"host": Check(nullable=False)}, JsonlEncoder, options=strict)
    assert verdict.reasons == [
        "host: NULL not allowed",
        "host: NULL not allowed; score: inf cannot be written as JSON",
    ]


PROXIES = pd.DataFrame(
    {
        "protocol": ["http", "http", None, "socks5", "http", "http"],
        "host": ["10.0.0.1", None, None, "b\nc", "proxy.example", "10.0.0.6"],
        "port": [8080, 80, None, 1080, 3128, None],
        "username": [None, None, None, None, "a:b", None],
        "password": [None, None, None, None, "pw", None],
        "url": [None, "http://10.0.0.2:80", None, None, None, None],
    }
)


@pytest.mark.parametrize(
    ("options", "broken"),
    [
        (TextOptions(layout="url"), [2, 3]),
        (TextOptions(layout="host:port"), [2, 3]),
        (TextOptions(layout="host:port:user:pass"), [2, 3, 4]),
        (TextOptions(template="{{ host }}:{{ port }}"), [3]),
        (TextOptions(template="{{ protocol }}"), []),
    ],
    ids=str,
)
def test_text_flags_the_rows_a_layout_cannot_write(options: TextOptions, broken: list[int]):
    verdict = validate(PROXIES, {}, TextEncoder, options=options)
    assert verdict.invalid.index.tolist() == broken
    for position in range(len(PROXIES)):
        row = PROXIES.iloc[[position]]
        assert refuses(TextEncoder, options, row) == (position in broken), position
    assert not refuses(TextEncoder, options, verdict.valid)


def test_text_rows_without_host_or_url_are_named() -> None:
    verdict = validate(PROXIES, {}, TextEncoder, options=TextOptions())
    assert verdict.reasons[0] == "a proxy list needs `host` and `port` fields, or a `url` field"


def test_text_without_options_flags_only_what_every_layout_refuses() -> None:
    # A template may well do without `host`, so without the options no row is blamed for it.
    assert validate(PROXIES, {}, TextEncoder).valid is PROXIES
    binary = pd.DataFrame({"host": ["a", "b"], "blob": pd.Series([b"x", None], dtype=object)})
    assert validate(binary, {}, TextEncoder).invalid.index.tolist() == [0]


def test_text_leaves_a_field_missing_from_every_row_to_the_encoder() -> None:
    chunk = pd.DataFrame({"port": [1, 2]})
    assert validate(chunk, {}, TextEncoder, options=TextOptions()).valid is chunk
    templated = TextOptions(template="{{ nope }}")
    assert validate(chunk, {}, TextEncoder, options=templated).valid is chunk


def test_a_hook_that_takes_only_the_chunk_is_called_without_options() -> None:
    class Strict:
        @staticmethod
        def problems(chunk: pd.DataFrame) -> pd.Series:
            return pd.Series([None, "nope"], index=chunk.index, dtype=object)

    verdict = validate(pd.DataFrame({"x": [1, 2]}), {}, Strict)
    assert verdict.invalid.index.tolist() == [1] and verdict.reasons == ["nope"]


# --- the property: every verdict agrees with a per-row oracle ---------------------------

SCALARS = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.sampled_from([2**63 - 1, -(2**63), 2**53 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.5, -0.0, 1.0, 2.0]),
    st.text(alphabet="ab1 \n", max_size=3),
)
ELEMENTS = {
    "ints": st.one_of(st.none(), st.integers(-5, 5), st.sampled_from([2**63 - 1, -(2**63)])),
    "floats": st.one_of(
        st.none(), st.floats(), st.sampled_from([0.5, -0.0, 1.0, math.nan, 2.0**53, 2.0**63])
    ),
    "strings": st.one_of(st.none(), st.text(alphabet="ab1 \n", max_size=3)),
    "mixed": st.one_of(SCALARS, st.booleans()),
}
ARROW_TYPES = {"ints": pa.int64(), "floats": pa.float64(), "strings": pa.string()}
TYPES = ("string", "integer", "number", "boolean", "timestamp", "date")
PATTERNS = ("a", "a+", "[ab1]*", r"\d", "a|b", r"\s?1")


@st.composite
def columns(draw: st.DrawFn, rows: int) -> tuple[pd.Series, bool]:
    """A column and whether NaN in it is NULL (everywhere but in Arrow columns)."""
    family = draw(st.sampled_from(sorted(ELEMENTS)))
    values = draw(st.lists(ELEMENTS[family], min_size=rows, max_size=rows))
    modes = ["infer", "object"] + (["arrow"] if family != "mixed" else [])
    modes += ["Int64"] if family == "ints" else []
    mode = draw(st.sampled_from(modes))
    if mode == "arrow":
        return arrow(values, ARROW_TYPES[family]), False
    if mode == "Int64":
        return pd.Series(values, dtype="Int64"), True
    return pd.Series(values, dtype=object if mode == "object" else None), True


@st.composite
def checks(draw: st.DrawFn) -> Check:
    """A check with a few rules (more would reject nearly every row and hide the rest)."""
    rules = draw(st.sets(st.sampled_from(["type", "allowed", "pattern", "min", "max"]), max_size=2))
    bound = st.one_of(st.integers(-3, 3), st.floats(-3, 3), st.sampled_from([2**53, 2.0**63]))
    low = draw(bound) if "min" in rules else None
    high = draw(bound) if "max" in rules else None
    if low is not None and high is not None and low > high:
        low, high = high, low
    return Check(
        type=draw(st.sampled_from(TYPES)) if "type" in rules else None,
        nullable=draw(st.booleans()),
        allowed=tuple(draw(st.lists(SCALARS, min_size=1, max_size=4)))
        if "allowed" in rules
        else None,
        pattern=draw(st.sampled_from(PATTERNS)) if "pattern" in rules else None,
        min=low,
        max=high,
    )


def is_bool(value: Any) -> bool:
    return isinstance(value, bool | np.bool_)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not is_bool(value)


def oracle_is_type(value: Any, declared: str) -> bool:
    return {
        "string": isinstance(value, str),
        "integer": isinstance(value, int | np.integer) and not is_bool(value),
        "number": is_number(value),
        "boolean": is_bool(value),
    }.get(declared, False)


def oracle_equal(value: Any, listed: Any) -> bool:
    if is_bool(value) or is_bool(listed):
        return is_bool(value) and is_bool(listed) and bool(value) == bool(listed)
    if isinstance(value, str) or isinstance(listed, str):
        return isinstance(value, str) and isinstance(listed, str) and value == listed
    return is_number(value) and is_number(listed) and value == listed


def oracle_breaks(value: Any, check: Check, nan_is_null: bool) -> bool:
    """The rules as the schema states them, one value at a time, in Python's arithmetic."""
    value = value.item() if isinstance(value, np.generic) else value
    nan = isinstance(value, float) and math.isnan(value)
    if value is None or value is pd.NA or (nan and nan_is_null):
        return not check.nullable
    if check.type is not None and not oracle_is_type(value, check.type):
        return True
    if check.allowed is not None and not any(oracle_equal(value, a) for a in check.allowed):
        return True
    text = value if isinstance(value, str) else None
    if check.pattern is not None and (text is None or not re.fullmatch(check.pattern, text)):
        return True
    if check.min is not None and not (is_number(value) and value >= check.min):
        return True
    return check.max is not None and not (is_number(value) and value <= check.max)


@st.composite
def frames(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[str, Check], dict[str, bool]]:
    rows = draw(st.integers(1, 12))
    width = draw(st.integers(1, 3))
    drawn = [draw(columns(rows)) for _ in range(width)]
    chunk = pd.DataFrame({f"c{i}": series for i, (series, _) in enumerate(drawn)})
    chunk.index = pd.RangeIndex(100, 100 + rows)
    nan_is_null = {f"c{i}": flag for i, (_, flag) in enumerate(drawn)}
    declared = {name: draw(checks()) for name in chunk.columns if draw(st.booleans())}
    return chunk, declared, nan_is_null


@settings(max_examples=500, deadline=None)
@given(frames())
def test_every_row_lands_where_the_oracle_says(
    case: tuple[pd.DataFrame, dict[str, Check], dict[str, bool]],
) -> None:
    chunk, declared, nan_is_null = case
    verdict = validate(chunk, declared)
    assert_partition(chunk, verdict)
    expected = [
        label
        for position, label in enumerate(chunk.index)
        if any(
            oracle_breaks(chunk[name].iloc[position], check, nan_is_null[name])
            for name, check in declared.items()
        )
    ]
    assert verdict.invalid.index.tolist() == expected
    for reason, label in zip(verdict.reasons, expected, strict=True):
        broken = [
            name
            for name, check in declared.items()
            if oracle_breaks(chunk.at[label, name], check, nan_is_null[name])
        ]
        assert [part.split(":")[0] for part in reason.split("; ")] == broken
