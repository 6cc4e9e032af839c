"""Plain-text configuration lines with their secrets masked: the function restore calls.

3proxy, squid, HAProxy, nginx, redis, RADIUS and WireGuard files are lines, not values;
each line goes through the config redaction's line rules (`rules.LINE_RULES`, `KEY=value`,
`directive value`, `--flag value`) and the engine's (URLs with credentials,
`Authorization`), and a private key block's body lines are masked whole.
"""

from __future__ import annotations

from functools import cache

from exportctl.model import Redaction
from exportctl.sources.config import rules
from exportctl.sources.config.redaction import ConfigRedactor
from exportctl.transforms.redact.columns import Redactor


@cache
def _line_redactor(marker: str) -> ConfigRedactor:
    return ConfigRedactor(Redaction(marker=marker))


def mask_line(line: str, marker: str = "***") -> str:
    """One line of a plain-text configuration (3proxy, squid, HAProxy, nginx, redis...)
    with its secrets replaced by `marker`; a line ending is kept. Private key blocks span
    lines: give whole files to `mask_lines`."""
    redactor = _line_redactor(marker)
    body = line.rstrip("\r\n")
    masked = redactor.line(body, 1)
    scanned = Redactor.text(redactor, masked, 1)
    return (masked if scanned is None else scanned) + line[len(body) :]


def mask_lines(lines: list[str], marker: str = "***") -> list[str]:
    """`mask_line` for each line of a file; a private key block's body lines are masked."""
    out: list[str] = []
    label: str | None = None
    for line in lines:
        begin = rules.PEM_BEGIN.search(line)
        if label is not None:
            ended = f"-----END {label}-----" in line
            body = line.rstrip("\r\n")
            out.append(line if ended else marker + line[len(body) :])
            label = None if ended else label
        elif begin is not None:
            out.append(line)
            label = begin["label"]
        else:
            out.append(mask_line(line, marker))
    return out
