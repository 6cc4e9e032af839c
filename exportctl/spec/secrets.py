"""Which exports may hold secrets, and `credentials: reveal`'s keys from the environment.

The spec's policy over proxywhirl's stored credentials (`exportctl.crypto` holds the
cryptography): whether a spec's files are written owner-only, and the Fernet keys a
revealing spec reads when it loads.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import replace

from exportctl import registry
from exportctl.errors import SpecProblem
from exportctl.model import ExportSpec
from exportctl.spec.schema import Locator

#: Owner read and write, nothing for group or others.
OWNER_ONLY = 0o600


# --- keys from the environment ------------------------------------------------------


def with_keys(
    spec: ExportSpec,
    env: Mapping[str, str],
    where: Locator,
    problems: list[SpecProblem],
    unset: list[SpecProblem],
) -> ExportSpec:
    """`credentials: reveal` with its keys read from the environment when the spec loads.

    The current key must be set (else a problem in `unset`); previous keys are
    optional. A key that is set but malformed is a problem. Messages name the
    variables, never their values.
    """
    rules = spec.credentials
    if rules.mode != "reveal":
        return spec
    from cryptography.fernet import Fernet  # only a revealing spec needs it

    keys: list[bytes] = []
    for index, name in enumerate((rules.key_env, *rules.previous_keys_env)):
        value = env.get(name, "")
        path = ("credentials", "key_env") if index == 0 else ("credentials", "previous_keys_env")
        if not value:
            if index == 0:
                unset.append(
                    where.problem(
                        path, f"`credentials: reveal` needs the key: set the variable `{name}`"
                    )
                )
            continue
        try:
            Fernet(value.encode())
        except (ValueError, binascii.Error):
            problems.append(
                where.problem(
                    path, f"`{name}` does not hold a Fernet key (32 bytes, url-safe base64)"
                )
            )
            continue
        keys.append(value.encode())
    return replace(spec, credentials=replace(rules, keys=tuple(keys)))


# --- which exports may hold secrets ---------------------------------------------------


def holds_secrets(spec: ExportSpec) -> bool:
    """Whether an export may hold secrets, and so is written owner-only.

    Credentials kept (ciphertext) or revealed, or a source whose rows are secret
    unless redacted (it `redacts_by_default`) with redaction turned off.
    """
    return spec.credentials.mode in ("keep", "reveal") or unredacted(spec)


def unredacted(spec: ExportSpec) -> bool:
    """A source whose rows hold secrets unless redacted (it `redacts_by_default`), told
    `redact: false`."""
    return registry.SOURCES.entry(spec.source.type).redacts_by_default and spec.redact is None


def file_mode(spec: ExportSpec) -> int | None:
    """The mode an export's local files are created with; None: as the umask leaves it."""
    mode = spec.destination.mode
    if holds_secrets(spec) and (mode is None or mode & 0o077):
        return OWNER_ONLY  # a looser `mode` is a spec error, reported by the parser
    return mode


def why_secret(spec: ExportSpec) -> str:
    """For messages: what makes the export hold secrets."""
    if spec.credentials.mode in ("keep", "reveal"):
        return f"`credentials: {spec.credentials.mode}`"
    return f"a `{spec.source.type}` source with `redact: false`"
