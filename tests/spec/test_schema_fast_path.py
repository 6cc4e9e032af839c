"""The schema check's two validators agree: jsonschema-rs's "valid" is jsonschema's.

`check_schema` trusts jsonschema-rs only when it says a spec is valid, and asks jsonschema
(which explains problems) otherwise. So the one thing that must hold is soundness: no
document jsonschema-rs accepts has a problem jsonschema would report. The documents are the
shipped specs and, from them, mutations of every kind (a value replaced by any JSON value,
a key dropped or added, text with the line ends and Unicode that regex dialects read apart).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import jsonschema
import jsonschema_rs
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from exportctl.spec.schema import Locator, check_schema, export_spec_schema
from tests.paths import REPO
from tests.support.spec_fuzz import key_paths

SHIPPED = sorted(
    [
        *REPO.glob("specs/*.yaml"),
        *REPO.glob("examples/*.yaml"),
        *REPO.glob("exportctl/demo/specs/*.yaml"),
    ]
)
DOCUMENTS = [yaml.safe_load(path.read_text()) for path in SHIPPED]
SLOW = jsonschema.Draft202012Validator(export_spec_schema())
FAST = jsonschema_rs.Draft202012Validator(export_spec_schema())

#: Text that regex dialects and type checks read apart: a trailing line end (Python's `$`
#: matches before it, ECMA's does not), other line ends, digits beyond ASCII, case.
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["csv", "gzip", "1h", "7d", "daily", "id", "sql", "s3://b/k"]).flatmap(
        lambda word: st.sampled_from([word, word + "\n", word.upper(), "\u0661" + word, word + " "])
    ),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    document = copy.deepcopy(draw(st.sampled_from(DOCUMENTS)))
    for _ in range(draw(st.integers(1, 3))):
        found = key_paths(document)
        if not found:
            continue
        *parent_path, last = draw(st.sampled_from(found))
        parent = document
        for step in parent_path:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "replace":
            parent[last] = draw(JSON)
        elif action == "drop":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(TEXT)] = draw(JSON)
    return document


def test_every_shipped_spec_takes_the_fast_path() -> None:
    """Else the start-up it saves would be paid anyway."""
    assert len(DOCUMENTS) > 20
    for path, document in zip(SHIPPED, DOCUMENTS, strict=True):
        assert FAST.is_valid(document), path


@settings(max_examples=600, deadline=None)
@given(mutated())
def test_what_the_fast_validator_accepts_jsonschema_accepts(document: Any) -> None:
    if FAST.is_valid(document):
        assert list(SLOW.iter_errors(document)) == [], json.dumps(document, default=str)[:500]


@settings(max_examples=200, deadline=None)
@given(mutated())
def test_check_schema_reports_what_jsonschema_finds(document: Any) -> None:
    """The fast path changes when jsonschema is asked, never the verdict."""
    problems = check_schema(document, Locator("spec.yaml", None))
    assert (problems == []) == SLOW.is_valid(document)


def test_a_date_goes_to_jsonschema() -> None:
    """YAML reads an unquoted date as a date, which jsonschema-rs cannot take: the full
    check answers, with its message."""
    document = copy.deepcopy(DOCUMENTS[0])
    document["name"] = yaml.safe_load("2026-12-07")
    problems = check_schema(document, Locator("spec.yaml", None))
    assert [p.path for p in problems] == ["$.name"]
    assert 'reads an unquoted "2026-12-07" as a date' in problems[0].message


def test_validating_valid_specs_never_imports_jsonschema() -> None:
    code = (
        "import sys\nfrom exportctl.cli.main import main\n"
        f"try:\n    main(['validate', {str(REPO / 'specs')!r}])\nexcept SystemExit:\n    pass\n"
        "print('jsonschema' in sys.modules)"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.splitlines()[-1] == "False"
