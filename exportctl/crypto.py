"""Proxy credentials as proxywhirl stores them: Fernet tokens behind an `encrypted:` prefix.

proxywhirl encrypts proxy usernames and passwords itself: a column holds `encrypted:`
and the base64 of a Fernet token, readable with a MultiFernet over the current key
(`PROXYWHIRL_CACHE_ENCRYPTION_KEY`) and the previous one kept while keys are rotated
(`PROXYWHIRL_CACHE_KEY_PREVIOUS`). A value without the prefix is legacy plain text.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, hmac, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PREFIX = "encrypted:"


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
