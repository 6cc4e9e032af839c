"""YAML output reads back the same under a YAML 1.1 reader (PyYAML) and a 1.2 one (ruamel)."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pyarrow as pa
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from exportctl.formats.options import YamlOptions
from exportctl.formats.yaml import YamlEncoder
from tests.support.strategies import hostile_text

#: Words YAML 1.1 or 1.2 resolve to booleans or null, in the case variants they accept.
_WORDS = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"]
_SIGNS = st.sampled_from(["", "+", "-"])
_DIGITS = st.text("0123456789", min_size=1, max_size=6)


@st.composite
def _number_text(draw: st.DrawFn) -> str:
    """Text shaped like a number in some YAML schema: leading zeros, exponents, bases,
    underscores, sexagesimal, dots, `.inf`/`.nan`."""
    sign = draw(_SIGNS)
    digits = draw(_DIGITS)
    shape = draw(
        st.sampled_from(
            [
                "{d}",
                "0{d}",
                "{d}e{d}",
                "{d}E-{d}",
                "{d}.{d}e+{d}",
                ".{d}",
                "{d}.",
                "0o{d}",
                "0x{d}F",
                "0b1{d}",
                "{d}_{d}",
                "{d}:{d}",
                "{d}:{d}:{d}.{d}",
                "{d}.{d}.{d}",
                ".inf",
                ".Inf",
                ".NaN",
                ".nan",
            ]
        )
    )
    return sign + shape.format(d=digits)


_word = st.sampled_from(_WORDS).flatmap(lambda w: st.sampled_from([w, w.upper(), w.capitalize()]))
_dates = st.one_of(
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat(sep=" ") + "Z"),
)
#: Text a resolver might take for something else, and any text at all.
resolver_shaped = st.one_of(_number_text(), _word, _dates, hostile_text)


def _ruamel_load(text: str) -> Any:
    return YAML(typ="safe").load(text)  # YAML 1.2, ruamel's default


def _round_trip(frame: pd.DataFrame) -> tuple[Any, Any]:
    out = io.BytesIO()
    encoder = YamlEncoder(YamlOptions(), out)
    encoder.write(frame)
    encoder.close()
    text = out.getvalue().decode("utf-8")
    return yaml.safe_load(text), _ruamel_load(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(resolver_shaped, min_size=1, max_size=8))
def test_every_string_value_reads_back_as_the_same_string(values: list[str]) -> None:
    frame = pd.DataFrame({"value": pd.array(values, pd.ArrowDtype(pa.string()))})
    expected = [{"value": v} for v in values]
    pyyaml, ruamel = _round_trip(frame)
    assert pyyaml == expected
    assert ruamel == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(resolver_shaped, min_size=1, max_size=5, unique=True))
def test_every_key_reads_back_as_the_same_string(names: list[str]) -> None:
    frame = pd.DataFrame({n: pd.array(["x"], pd.ArrowDtype(pa.string())) for n in names})
    expected = [dict.fromkeys(names, "x")]
    pyyaml, ruamel = _round_trip(frame)
    assert pyyaml == expected
    assert ruamel == expected


def test_the_issues_examples_are_quoted() -> None:
    values = ["08123", "081109", "87E4", "1e3", "0o17", "on", "no", "y", "~", "1:20", ".inf"]
    values += [".NaN", "0x1F", "+1", "1_000", "2001-12-14"]
    frame = pd.DataFrame({"zip": pd.array(values, pd.ArrowDtype(pa.string()))})
    pyyaml, ruamel = _round_trip(frame)
    assert [r["zip"] for r in pyyaml] == values
    assert [r["zip"] for r in ruamel] == values


def test_numbers_and_booleans_stay_unquoted() -> None:
    frame = pd.DataFrame(
        {
            "n": pd.array([1, -2], pd.ArrowDtype(pa.int64())),
            "f": pd.array([1.5, 1e16], pd.ArrowDtype(pa.float64())),
            "b": pd.array([True, None], pd.ArrowDtype(pa.bool_())),
        }
    )
    pyyaml, ruamel = _round_trip(frame)
    expected = [{"n": 1, "f": 1.5, "b": True}, {"n": -2, "f": 1e16, "b": None}]
    assert pyyaml == expected
    assert ruamel == expected
