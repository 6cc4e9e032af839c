"""Read spec files: YAML, schema check, environment, typed objects. Touches only the files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import yaml

from exportctl.errors import SpecError, SpecProblem
from exportctl.model import ExportSpec
from exportctl.spec import secrets as credentials
from exportctl.spec import yamlload
from exportctl.spec.interpolate import interpolate, references
from exportctl.spec.parse import parse
from exportctl.spec.schema import Locator, check_schema

SPEC_SUFFIXES = (".yaml", ".yml")


def load_spec(
    path: Path, env: Mapping[str, str] | None = None, *, strict_env: bool = True
) -> ExportSpec:
    """Parse one spec file, or raise SpecError listing everything wrong with it.

    An unset variable the spec needs is a problem only when `strict_env`; otherwise it
    is recorded in the spec's `unset_env` (validation checks structure, not secrets).
    """
    env = os.environ if env is None else env
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([SpecProblem(file, None, "", f"cannot read the file: {exc}")]) from None
    try:
        root = yamlload.compose(text)
        document = yamlload.construct(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        kind = "refused" if isinstance(exc, yamlload.Refused) else "YAML syntax error"
        raise SpecError([SpecProblem(file, line, "", f"{kind}: {reason}")]) from None

    where = Locator(file, root)
    problems = where.duplicates + check_schema(document, where)
    if problems:
        raise SpecError(problems)

    unset: list[SpecProblem] = []
    unset_names: list[str] = []

    def missing(at: tuple[str | int, ...], name: str) -> None:
        unset_names.append(name)
        unset.append(
            where.problem(at, f"environment variable `{name}` is not set and has no default")
        )

    resolved = interpolate(document, env, missing)
    digest = hashlib.sha256(text.encode()).hexdigest()
    spec, found = parse(resolved, where, path=path.resolve(), digest=digest)
    problems += found
    spec = _with_hash_key(spec, env, where, unset)
    spec = credentials.with_keys(spec, env, where, problems, unset)
    if strict_env:
        problems += unset
    if problems:
        raise SpecError(problems)
    keys = _key_names(spec)
    unset_names += [name for name in keys if not env.get(name)]
    return replace(
        spec,
        env_names=tuple(dict.fromkeys([*references(document), *keys])),
        env_unset=tuple(dict.fromkeys(unset_names)),
        unset_env=tuple(unset),
    )


def _key_names(spec: ExportSpec) -> list[str]:
    """The variables holding keys that the spec's run reads."""
    names = []
    if spec.redact is not None and spec.redact.mode == "hash":
        names.append(spec.redact.hash_key_env)
    if spec.credentials.mode == "reveal":
        names.append(spec.credentials.key_env)
    return names


def _with_hash_key(
    spec: ExportSpec, env: Mapping[str, str], where: Locator, unset: list[SpecProblem]
) -> ExportSpec:
    """`redact.mode: hash` keyed from the environment; the key never enters the document."""
    rules = spec.redact
    if rules is None or rules.mode != "hash":
        return spec
    key = env.get(rules.hash_key_env)
    if not key:
        message = f"`mode: hash` needs a key: set the environment variable `{rules.hash_key_env}`"
        unset.append(where.problem(("redact", "mode"), message))
        return spec
    return replace(spec, redact=replace(rules, hash_key=key.encode()))


def spec_files(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, and the spec files directly inside named folders."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file())
        elif path.exists():
            found.append(path)
        else:
            raise SpecError([SpecProblem(str(path), None, "", "no such file or folder")])
    return found


def load_specs(
    paths: Iterable[Path], env: Mapping[str, str] | None = None, *, strict_env: bool = True
) -> tuple[list[ExportSpec], list[SpecProblem]]:
    """Every spec under `paths`; the bad ones reported, not fatal to the good ones."""
    specs: list[ExportSpec] = []
    problems: list[SpecProblem] = []
    by_name: dict[str, ExportSpec] = {}
    for file in spec_files(paths):
        try:
            spec = load_spec(file, env, strict_env=strict_env)
        except SpecError as exc:
            problems += exc.problems
            continue
        if spec.name in by_name:
            where = Locator(str(file), yamlload.compose(file.read_text(encoding="utf-8")))
            first = by_name[spec.name].path
            problems.append(where.problem(("name",), f"name `{spec.name}` is also used by {first}"))
            continue
        by_name[spec.name] = spec
        specs.append(spec)
    return specs, problems
