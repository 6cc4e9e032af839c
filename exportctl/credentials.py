"""Proxy credentials as proxywhirl stores them, and which exports may hold secrets.

proxywhirl encrypts proxy usernames and passwords itself: a column holds `encrypted:`
and the base64 of a Fernet token, readable with a MultiFernet over the current key
(`PROXYWHIRL_CACHE_ENCRYPTION_KEY`) and the previous one kept while keys are rotated
(`PROXYWHIRL_CACHE_KEY_PREVIOUS`). A value without the prefix is legacy plain text.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Mapping, Sequence
from dataclasses import replace

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, hmac, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from exportctl import registry
from exportctl.errors import SpecProblem
from exportctl.spec.model import ExportSpec
from exportctl.spec.schema import Locator

PREFIX = "encrypted:"
#: Owner read and write, nothing for group or others.
OWNER_ONLY = 0o600


class Undecryptable(ValueError):
    """A stored value no key opens, or that is no Fernet token at all."""


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def keyring(keys: Sequence[bytes]) -> MultiFernet:
    """Decrypts with the first key that opens a token: current first, then previous ones."""
    return MultiFernet([Fernet(key) for key in keys])


def decrypt(value: str, keys: MultiFernet) -> str:
    """The plain text of a stored `encrypted:` value; raises Undecryptable."""
    try:
        token = base64.b64decode(value[len(PREFIX) :], validate=True)
        return keys.decrypt(token).decode("utf-8")
    except (InvalidToken, binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise Undecryptable(type(exc).__name__) from None


def stored(token: bytes) -> str:
    """A Fernet token as proxywhirl stores it in a credential column."""
    return PREFIX + base64.b64encode(token).decode("ascii")


def fernet_token(key: bytes, plaintext: bytes, *, timestamp: int, iv: bytes) -> bytes:
    """A Fernet token made by the published Fernet spec from a given time and IV.

    `Fernet.encrypt` takes both from the clock and the OS; the demo needs the same
    bytes from the same seed. Any Fernet reader opens these tokens.
    """
    raw = base64.urlsafe_b64decode(key)
    signing, encryption = raw[:16], raw[16:]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(encryption), modes.CBC(iv)).encryptor()
    body = b"\x80" + struct.pack(">Q", timestamp) + iv + encryptor.update(padded)
    body += encryptor.finalize()
    mac = hmac.HMAC(signing, hashes.SHA256())
    mac.update(body)
    return base64.urlsafe_b64encode(body + mac.finalize())


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
    source = registry.SOURCES.get(spec.source.type)
    return bool(getattr(source, "redacts_by_default", False)) and spec.redact is None


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
