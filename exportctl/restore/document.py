"""Read a configuration export: decompress, parse, check against its schema, decode values."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
import zstandard

from exportctl.errors import SpecError, SpecProblem, UsageError
from exportctl.sources.config import typed
from exportctl.spec.schema import Locator


@dataclass(frozen=True)
class Entry:
    """One row of the document: a file (or the environment) and the values it holds."""

    kind: str  # file | environment
    path: str | None
    format: str
    sha256: str
    #: The values in the document's form (tags kept), redacted ones as the export left them.
    content: Any

    @property
    def name(self) -> str:
        """How messages name it: the file's path, or `environment`."""
        return self.path if self.path is not None else "environment"


@cache
def schema() -> dict[str, Any]:
    text = resources.files("exportctl").joinpath("schemas/config-export.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def load(path: Path) -> list[Entry]:
    """The document's rows; a SpecError (exit 2) naming each problem's place if it is not one."""
    data, name = unpacked(path)
    try:
        text = data.decode("utf-8")
        document = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        problem = SpecProblem(str(path), None, "", f"not a YAML or JSON document: {first}")
        raise SpecError([problem]) from None
    document = typed.tagged(document)  # YAML's native dates, in the schema's form
    where = Locator(str(path), text) if not name.endswith(".json") else Locator(str(path), "")
    errors = map(_deepest, jsonschema.Draft202012Validator(schema()).iter_errors(document))
    problems = [where.problem(tuple(e.absolute_path), _message(e)) for e in errors]
    problems = problems or _repeated_paths(document, where) or _unreadable(document, where)
    if problems:
        raise SpecError(sorted(problems, key=lambda p: (p.line or 0, p.path)))
    return [Entry(r["kind"], r["path"], r["format"], r["sha256"], r["content"]) for r in document]


def unpacked(path: Path) -> tuple[bytes, str]:
    """An export's bytes, decompressed, and its name without the compression's extension."""
    try:
        data = decompressed(path.read_bytes(), path.name)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return data, path.name.removesuffix(".gz").removesuffix(".zst").removesuffix(".zip")


def decompressed(data: bytes, name: str) -> bytes:
    if name.endswith(".gz"):
        return gzip.decompress(data)
    if name.endswith(".zst"):
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.read(archive.namelist()[0])
    return data


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Of `anyOf`/`oneOf` branches, the one that got furthest into the value, rather than
    "not valid under any"."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return error
    found = [_deepest(e) for e in error.context]
    return max(found, key=lambda e: (len(e.absolute_path), e.validator != "type"))


def _message(error: jsonschema.ValidationError) -> str:
    """What is wrong, without the value itself: a document may hold secrets."""
    found = type(error.instance).__name__
    expected = error.validator_value
    described = error.schema.get("description") if isinstance(error.schema, dict) else None
    if error.validator == "type":
        wanted = expected if isinstance(expected, str) else " or ".join(expected)
        return f"a {found} where {wanted} is expected"
    if error.validator in ("enum", "const"):
        options = expected if isinstance(expected, list) else [expected]
        return "must be one of " + ", ".join(f"`{o}`" for o in options)
    if error.validator in ("required", "additionalProperties"):
        return error.message.replace("'", "`")
    if error.validator == "pattern" and described:
        return f"not allowed here. {described}"
    if error.validator == "not":
        return "a mapping of one key named like a tag must be written as `$dict`"
    return f"breaks the schema's `{error.validator}` rule ({described or expected})"


def _unreadable(document: list[dict[str, Any]], where: Locator) -> list[SpecProblem]:
    """Tags the schema lets by that still do not read (`{$date: "2024-13-45"}`)."""
    problems = []
    for index, row in enumerate(document):
        try:
            typed.decode(row["content"])
        except ValueError as exc:
            reason = str(exc).split(":")[0]  # not the value: it may be a secret
            problems.append(where.problem((index, "content"), f"a tagged value is bad: {reason}"))
    return problems


def _repeated_paths(document: list[dict[str, Any]], where: Locator) -> list[SpecProblem]:
    """Two rows for one file, or two environments: restore would write one over the other."""
    seen: set[Any] = set()
    problems = []
    for index, row in enumerate(document):
        if row["path"] in seen:
            what = f"`{row['path']}`" if row["path"] else "the environment"
            problems.append(where.problem((index, "path"), f"{what} appears twice"))
        seen.add(row["path"])
    return problems
