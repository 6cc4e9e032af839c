"""Configuration files: which format a file is in, and its values as the program reads them.

Each reader gives the values the configured program sees: TOML's typed values (dates and
times too), YAML's as `yaml.safe_load` reads them, JSON's, INI sections of text values
(no interpolation, keys in their case), and `.env` variables as text. Any other file
(3proxy's `3proxy.cfg`, squid's `squid.conf`, a PEM key) is `text`: its lines, verbatim,
each with its line end, so joined they are the file's bytes.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

import yaml

FORMATS = ("toml", "yaml", "json", "ini", "env", "text")
_SUFFIXES = {
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".ini": "ini",
    ".cfg": "ini",
    ".env": "env",
}
#: `KEY=value`, `export KEY=value`, the value bare, 'single' or "double" quoted.
ENV_LINE = re.compile(
    r"^\s*(?P<export>export\s+)?(?P<key>[^\s=#][^=]*?)\s*=\s*"
    r"(?:'(?P<single>[^']*)'\s*(?:#.*)?|\"(?P<double>(?:[^\"\\]|\\.)*)\"\s*(?:#.*)?"
    r"|(?P<bare>.*?)(?:\s+#.*)?)\s*$"
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def falls_back_to_text(path: PurePath) -> bool:
    """`.cfg` is INI to some programs and its own syntax to others (3proxy, HAProxy): such
    a file is text when it does not read as INI."""
    return path.suffix.lower() == ".cfg"


def format_of(path: PurePath) -> str:
    """The format a file's name says it is in (`.env` and `prod.env` are env files); `text`
    for every other name."""
    if path.name == ".env" or path.name.startswith(".env."):
        return "env"
    return _SUFFIXES.get(path.suffix.lower(), "text")


def parse(data: bytes, fmt: str) -> Any:
    """A file's values; ValueError (with the reason) when it is not valid in its format."""
    text = data.decode("utf-8")
    try:
        return _READERS[fmt](text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    except configparser.Error as exc:
        raise ValueError(exc.message.splitlines()[0]) from None


def ini_parser() -> configparser.ConfigParser:
    """INI as read here: no interpolation, keys kept in their case, `DEFAULT` a plain section."""
    parser = configparser.ConfigParser(
        interpolation=None, default_section="\0none", strict=True, allow_no_value=True
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    return parser


def _ini(text: str) -> dict[str, dict[str, str | None]]:
    parser = ini_parser()
    parser.read_string(text)
    return {name: dict(parser.items(name, raw=True)) for name in parser.sections()}


def parse_env(text: str) -> dict[str, str]:
    """`.env` lines as variables; blank lines and `#` comments skipped."""
    values: dict[str, str] = {}
    for number, line in enumerate(env_lines(text), 1):
        entry = env_entry(line)
        if entry is None:
            if line.strip() and not line.lstrip().startswith("#"):
                raise ValueError(f"line {number} is not `KEY=value`")
            continue
        values[entry[0]] = entry[1]
    return values


def env_lines(text: str) -> list[str]:
    """Lines end at `\n` alone (`str.splitlines` would also cut a quoted value at `\x0b`)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def env_entry(line: str) -> tuple[str, str] | None:
    """A `.env` line's key and value, or None for a blank or comment line."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    match = ENV_LINE.match(line)
    if match is None:
        return None
    if match["single"] is not None:
        return match["key"], match["single"]
    if match["double"] is not None:
        return match["key"], re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[0]), match["double"])
    return match["key"], match["bare"]


def parse_text(text: str) -> list[str]:
    """A text file's lines, each with its `\n` (the last may have none); `\r` and other
    characters `str.splitlines` would cut at stay inside their line."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


_READERS: dict[str, Callable[[str], Any]] = {
    "toml": tomllib.loads,
    "yaml": yaml.safe_load,
    "json": json.loads,
    "ini": _ini,
    "env": parse_env,
    "text": parse_text,
}


#: A `.env` value written bare; anything else is double-quoted.
_BARE = re.compile(r"[A-Za-z0-9_./:@+,=%^~-]*")


def env_line(key: str, value: str) -> str:
    """`KEY=value` as `parse_env` reads it back to the same text."""
    if _BARE.fullmatch(value):
        return f"{key}={value}"
    escaped = re.sub(
        r'[\\"$\n\t\r]', lambda m: "\\" + {"\n": "n", "\t": "t", "\r": "r"}.get(m[0], m[0]), value
    )
    return f'{key}="{escaped}"'


def dump_env(values: dict[str, str]) -> str:
    """A fresh `.env` file holding `values`, one line each, in their order."""
    return "".join(env_line(key, value) + "\n" for key, value in values.items())
