"""Restore into a changed copy edits only the values that differ: every other line stays
byte for byte, and a changed value's line keeps its text before and after the value."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exportctl.restore import writers
from exportctl.sources.config import files, typed

Path_ = tuple[Any, ...]


@dataclass
class Draft:
    """A file being drawn: its lines, and where each value's text stands."""

    lines: list[str] = field(default_factory=list)
    #: key path → (line index, text before the value, text after it); one value a line,
    #: or None for the affix where a line holds several values.
    leaves: dict[Path_, tuple[int, str | None, str | None]] = field(default_factory=dict)
    #: key path → the lines its entry takes (YAML), for removing it.
    entries: dict[Path_, range] = field(default_factory=dict)

    def line(self, text: str) -> None:
        self.lines.append(text)

    def value(self, path: Path_, before: str, token: str, after: str) -> None:
        self.leaves[path] = (len(self.lines), before, after)
        self.lines.append(before + token + after)

    def several(self, paths: list[Path_], text: str) -> None:
        for path in paths:
            self.leaves[path] = (len(self.lines), None, None)
        self.lines.append(text)

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


_keys = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), unique=True)
_pad = st.sampled_from(["", " ", "  ", "   \t"])
_spaces = st.sampled_from(["", " ", "   "])  # YAML takes no tab after a value
_comment = st.sampled_from(["", "  # why", " #x", "    # a comment: with, marks"])
_word = st.from_regex(r"[a-z][a-z0-9 ._-]{0,8}[a-z0-9]", fullmatch=True)
_int = st.integers(-(10**6), 10**6)
_float = st.floats(-1e6, 1e6, allow_nan=False).filter(lambda f: f == f)


# --- drawing a file of each format: (its text, where its values are) ----------------------


def _yaml_scalar(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["int", "float", "bool", "plain", "single", "double", "null"]))
    if kind == "int":
        return str(draw(_int))
    if kind == "float":
        return repr(draw(_float)) if draw(st.booleans()) else "1.5"
    if kind == "bool":
        return draw(st.sampled_from(["true", "false", "yes", "off"]))
    word = draw(_word)
    if kind == "plain":
        return "x" + word
    if kind == "single":
        return f"'{word}'"
    if kind == "double":
        return f'"{word}\\t"'
    return draw(st.sampled_from(["", "null", "~"]))


@st.composite
def yaml_file(draw: st.DrawFn) -> Draft:
    draft = Draft(["# a configuration", ""])
    step = draw(st.integers(1, 6))
    for key in draw(_keys.filter(bool)):
        shape = draw(st.sampled_from(["scalar", "map", "list", "flow"]))
        first = len(draft.lines)
        if shape == "scalar":
            token = _yaml_scalar(draw)
            draft.value((key,), f"{key}:" + (" " if token else ""), token, draw(_comment))
        elif shape == "map":
            draft.line(f"{key}:{draw(_comment)}")
            for inner in draw(_keys.filter(bool)):
                token = _yaml_scalar(draw)
                lead = " " * step + f"{inner}:" + draw(st.sampled_from([" ", "   "]))
                draft.entries[(key, inner)] = range(len(draft.lines), len(draft.lines) + 1)
                draft.value((key, inner), lead if token else lead.rstrip(), token, draw(_spaces))
        elif shape == "list":
            draft.line(f"{key}:")
            offset = " " * draw(st.integers(0, 6))
            for index in range(draw(st.integers(1, 3))):
                token = _yaml_scalar(draw) or "null"
                draft.value((key, index), offset + "- ", token, draw(_comment))
        else:
            tokens = [_yaml_scalar(draw) or "~" for _ in range(draw(st.integers(1, 3)))]
            text = f"{key}: [" + ", ".join(tokens) + "]" + draw(_comment)
            draft.several([(key, i) for i in range(len(tokens))], text)
        draft.entries[(key,)] = range(first, len(draft.lines))
    return draft


@st.composite
def toml_file(draw: st.DrawFn) -> Draft:
    draft = Draft(["# a configuration"])

    def scalar() -> str:
        kind = draw(st.sampled_from(["int", "float", "bool", "basic", "literal"]))
        if kind == "int":
            return str(draw(_int))
        if kind == "float":
            return repr(draw(_float))
        if kind == "bool":
            return draw(st.sampled_from(["true", "false"]))
        return f'"{draw(_word)}"' if kind == "basic" else f"'{draw(_word)}'"

    def pairs(path: Path_, indent: str) -> None:
        for key in draw(_keys):
            eq = draw(st.sampled_from([" = ", "=", "  =  "]))
            if draw(st.integers(0, 4)) == 0:
                tokens = [scalar() for _ in range(draw(st.integers(1, 3)))]
                text = f"{indent}{key}{eq}[ " + ", ".join(tokens) + " ]" + draw(_comment)
                draft.several([(*path, key, i) for i in range(len(tokens))], text)
            else:
                draft.value((*path, key), f"{indent}{key}{eq}", scalar(), draw(_comment))

    pairs((), "")
    for table in draw(_keys.map(lambda names: [f"t_{n}" for n in names])):
        draft.line("")
        draft.line(f"[{table}]{draw(_comment)}")
        pairs((table,), draw(st.sampled_from(["", "  ", "    "])))
    return draft


@st.composite
def json_file(draw: st.DrawFn) -> Draft:
    draft = Draft(["{"])
    keys = draw(_keys.filter(bool))
    indent = " " * draw(st.integers(1, 5))

    def scalar() -> str:
        kind = draw(st.sampled_from(["int", "float", "bool", "null", "text"]))
        if kind == "int":
            return str(draw(_int))
        if kind == "float":
            return repr(draw(_float))
        if kind in ("bool", "null"):
            return draw(st.sampled_from(["true", "false"])) if kind == "bool" else "null"
        return '"' + draw(_word) + '"'

    for number, key in enumerate(keys):
        draft.entries[(key,)] = range(len(draft.lines), len(draft.lines) + 1)
        comma = "," if number < len(keys) - 1 else ""
        if draw(st.booleans()):
            colon = draw(st.sampled_from([": ", ":", " :  "]))
            draft.value((key,), f'{indent}"{key}"{colon}', scalar(), comma + draw(_pad))
        else:
            tokens = [scalar() for _ in range(draw(st.integers(1, 3)))]
            text = f'{indent}"{key}": [' + ",  ".join(tokens) + "]" + comma
            draft.several([(key, i) for i in range(len(tokens))], text)
    draft.line("}")
    return draft


@st.composite
def ini_file(draw: st.DrawFn) -> Draft:
    draft = Draft(["; a configuration", "# another comment"])
    for section in draw(_keys.filter(bool)):
        draft.line(f"[{section}]{draw(_pad)}")
        for key in draw(_keys):
            form = draw(st.sampled_from([" = ", "=", " : ", "  =   ", None]))
            if form is None:
                draft.value((section, key), key, "", draw(_pad))
            else:
                value = draw(st.one_of(_word, st.just("")))
                lead = key + (form if value else form.rstrip())
                draft.value((section, key), lead, value, draw(_pad) if value else "")
        draft.line(draw(st.sampled_from(["", "# between"])))
    return draft


@st.composite
def env_file(draw: st.DrawFn) -> Draft:
    draft = Draft(["# the environment"])
    for key in draw(_keys.filter(bool)):
        key = key.upper()
        lead = draw(st.sampled_from(["", "export ", "  "]))
        eq = draw(st.sampled_from(["=", " = "]))
        quote = draw(st.sampled_from(["", "'", '"']))
        bare = _word.map(lambda w: w.replace(" ", ""))
        word = draw(st.one_of(_word if quote else bare, st.just("")))
        after = draw(_comment) if quote or word else ""
        draft.value((key,), f"{lead}{key}{eq}", f"{quote}{word}{quote}", after)
        if draw(st.booleans()):
            draft.line(draw(st.sampled_from(["", "# note", "   "])))
    return draft


FILES = {
    "yaml": yaml_file(),
    "toml": toml_file(),
    "json": json_file(),
    "ini": ini_file(),
    "env": env_file(),
}
_INI_TEXT = (
    r"[^\s;#\[\x0b\x0c\x1c-\x1f\x85\u2028\u2029]"
    r"[^\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]{0,8}[^\s\x85\u2028\u2029]"
)
#: What a changed value may become, per format (any kind of scalar the format holds).
NEW_VALUES = {
    "yaml": st.one_of(st.none(), st.booleans(), _int, _float, st.text(max_size=12)),
    "toml": st.one_of(st.booleans(), _int, _float, st.text(max_size=12)),
    "json": st.one_of(st.none(), st.booleans(), _int, _float, st.text(max_size=12)),
    "ini": st.one_of(st.none(), _word, st.from_regex(_INI_TEXT, fullmatch=True)),
    "env": st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=12
    ),
}


def _get(value: Any, path: Path_) -> Any:
    for part in path:
        value = value[part]
    return value


def _set(value: Any, path: Path_, new: Any) -> None:
    for part in path[:-1]:
        value = value[part]
    value[path[-1]] = new


@pytest.mark.parametrize("fmt", list(FILES))
def test_restore_into_a_changed_copy_edits_only_the_values_that_differ(fmt: str) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(draft=FILES[fmt], data=st.data())
    def check(draft: Draft, data: st.DataObject) -> None:
        old = draft.text()
        before = files.parse(old.encode(), fmt)
        paths = sorted(draft.leaves)
        chosen = data.draw(st.lists(st.sampled_from(paths), unique=True) if paths else st.just([]))
        target = copy.deepcopy(before)
        for path in chosen:
            _set(target, path, data.draw(NEW_VALUES[fmt]))
        changed = {draft.leaves[p][0] for p in chosen}

        new = writers.render(fmt, old, target)

        assert typed.same(files.parse(new.encode(), fmt), target)
        old_lines, new_lines = old.split("\n"), new.split("\n")
        assert len(new_lines) == len(old_lines), new
        for number, (was, now) in enumerate(zip(old_lines, new_lines, strict=True)):
            if number not in changed:
                assert now == was, f"line {number + 1} changed: {was!r} → {now!r}"
        for path in chosen:
            number, before_value, after_value = draft.leaves[path]
            if before_value is not None and after_value is not None:
                if fmt == "ini" and _get(target, path) is None:
                    before_value = path[-1]  # `key` alone: the delimiter goes with the value
                line = new_lines[number]
                assert line.startswith(before_value.rstrip()) and line.endswith(after_value), line

    check()


ODD_TEXT = [
    "=",
    "-",
    "- a",
    "? x",
    "!x",
    "&a",
    "*a",
    "%x",
    "@x",
    "`x",
    "|",
    ">",
    "'",
    '"',
    "#",
    "a: b",
    "a #b",
    "[x]",
    "{x}",
    "x, y",
    "yes",
    "on",
    "No",
    "1:20",
    "0o17",
    "08123",
    "1e3",
    ".inf",
    "~",
    "null",
    "",
    " x",
    "x ",
    "\n",
    "a\nb",
    "\t",
    "\u2028",
    "\x85",
    "é",
    "😀",
    "\\",
    "2024-01-02",
    "<<",
]


@pytest.mark.parametrize("fmt", ["yaml", "json", "env", "toml"])
def test_odd_text_replaces_a_value_in_place(fmt: str) -> None:
    old = {
        "yaml": "# c\nkeep: 1   # kept\nthe:\n    value: old   # note\nlist: [a, old]\n",
        "json": '{\n   "keep": 1,\n   "the": {"value": "old"},\n   "list": ["a",  "old"]\n}\n',
        "env": "# c\nKEEP=1\n export THE = 'old'  # note\nLIST=\"old\"\n",
        "toml": "# c\nkeep = 1   # kept\n[the]\n  value = 'old'   # note\n"
        "  list = [ 'a', 'old' ]\n",
    }[fmt]
    before = files.parse(old.encode(), fmt)
    for text in ODD_TEXT:
        target = copy.deepcopy(before)
        if fmt == "env":
            target["THE"] = text
        else:
            target["the"]["value"] = text
            if "list" in target:
                target["list"][1] = text
            elif "list" in target["the"]:
                target["the"]["list"][1] = text
        new = writers.render(fmt, old, target)
        assert typed.same(files.parse(new.encode(), fmt), target), (text, new)
        old_lines, new_lines = old.split("\n"), new.split("\n")
        assert len(new_lines) == len(old_lines), (text, new)
        for was, now in zip(old_lines, new_lines, strict=True):
            assert now == was or "old" in was, (text, new)


_added = st.one_of(
    NEW_VALUES["yaml"],
    st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), _int, min_size=1, max_size=2),
    st.lists(_word, min_size=1, max_size=2),
)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_keys_added_and_removed_leave_every_other_line(fmt: str) -> None:
    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(draft=FILES[fmt], data=st.data())
    def check(draft: Draft, data: Any) -> None:
        old = draft.text()
        target = copy.deepcopy(files.parse(old.encode(), fmt))
        dropped = _drop_entries(draft, target, data)
        changed: set[int] = set()
        for path, (line, _, _) in draft.leaves.items():
            if line not in dropped and data.draw(st.integers(0, 3)) == 0:
                try:
                    _set(target, path, data.draw(NEW_VALUES[fmt]))
                except (KeyError, IndexError, TypeError):
                    continue  # gone with its entry
                changed.add(line)
        for number, mapping in enumerate([target, *_mappings(target)]):
            if data.draw(st.booleans()):
                items = list(mapping.items())
                at = data.draw(st.integers(0, len(items)))
                items.insert(at, (f"N{number}", data.draw(_added)))
                mapping.clear()
                mapping.update(items)

        new = writers.render(fmt, old, target)

        assert typed.same(files.parse(new.encode(), fmt), target)
        # JSON: a comma comes or goes at the end of the member before an added or removed one.
        bare = (lambda line: re.sub(r",?\s*$", "", line)) if fmt == "json" else (lambda x: x)
        kept = [bare(x) for n, x in enumerate(old.split("\n")) if n not in dropped | changed]
        rest = iter(bare(line) for line in new.split("\n"))
        missing = [line for line in kept if not any(line == candidate for candidate in rest)]
        assert not missing, f"lines not kept as they were: {missing}\n{new}"

    check()


def _drop_entries(draft: Draft, target: dict[str, Any], data: Any) -> set[int]:
    """Some keys deleted from `target` (never a mapping's last); the lines they took."""
    dropped: set[int] = set()
    for path in data.draw(st.lists(st.sampled_from(sorted(draft.entries)), unique=True)):
        try:
            parent = _get(target, path[:-1])
        except KeyError:
            continue  # gone with its entry
        if isinstance(parent, dict) and path[-1] in parent and len(parent) > 1:
            del parent[path[-1]]  # an empty mapping reads as null in YAML
            dropped |= set(draft.entries[path])
    return dropped


def _mappings(value: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in value.values() if isinstance(v, dict)]


def test_env_keys_added_and_removed_keep_the_other_lines_and_the_quotes() -> None:
    old = "# env\n export A = 'one'   # a\nB=\"two\"\nC=three  # c\n\n   D=four\n"
    new = writers.render("env", old, {"A": "uno", "C": "tres", "E": "five", "D": "four"})
    assert files.parse_env(new) == {"A": "uno", "C": "tres", "E": "five", "D": "four"}
    assert new == "# env\n export A = 'uno'   # a\nC=tres  # c\nE=five\n\n   D=four\n"


def test_ini_keys_added_and_removed_keep_the_other_lines_and_their_spacing() -> None:
    old = "; c\n[a]\nx=1\ny  :  2   \nz = 3\n\n[b]\nk=v\n"
    target = {"a": {"x": "10", "z": "3", "w": "new"}, "b": {"k": "v2"}, "c": {"q": None}}
    new = writers.render("ini", old, target)
    assert files.parse(new.encode(), "ini") == target
    lines = new.split("\n")
    assert lines[:3] == ["; c", "[a]", "x=10"]  # the value alone changed, `=` unspaced
    assert "z = 3" in lines and "k=v2" in lines


@pytest.mark.parametrize(
    ("fmt", "broken"),
    [
        ("yaml", "a: [1,\n"),
        ("json", '{"a": '),
        ("toml", "a = [\n"),
        ("ini", "[a\nx"),
        ("env", "A\n"),
    ],
)
def test_a_file_that_no_longer_reads_is_written_fresh(fmt: str, broken: str) -> None:
    value = {"a": {"x": "1"}} if fmt == "ini" else {"A": "1"} if fmt == "env" else {"a": 1}
    assert typed.same(files.parse(writers.render(fmt, broken, value).encode(), fmt), value)
