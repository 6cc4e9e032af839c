"""Which log files a `path` names: a file, a glob, a URI, or an `s3://` glob."""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from smart_open.compression import get_supported_extensions

from exportctl.errors import SourceError

_MAGIC = re.compile(r"[*?[]")
#: The suffixes smart_open decompresses as it reads.
_COMPRESSED = frozenset(get_supported_extensions())


def is_remote(path: str) -> bool:
    return "://" in path


def may_grow(path: str) -> bool:
    """Whether a logger may still append to the file: a local file not compressed.

    A compressed file was written whole at rotation, and an object store's object
    cannot be appended to; only the newest such file of a glob is the live log.
    """
    return not is_remote(path) and Path(path).suffix.lower() not in _COMPRESSED


def local_files(path: str, base_dir: Path, what: str = "log file") -> list[str]:
    """Files matching a path or glob, relative to `base_dir`, sorted by name."""
    path = os.path.expanduser(path)
    pattern = os.path.join(base_dir, path)
    if glob.has_magic(path):  # the spec's folder may hold `[` or `*` too: only `path` globs
        found = sorted(glob.glob(os.path.join(glob.escape(str(base_dir)), path)))
    else:
        found = [pattern]
    if not found or not Path(found[0]).exists():
        raise SourceError(f"no {what} matches {pattern}")
    return found


def remote_files(uri: str, what: str = "log file") -> list[str]:
    """A URI as it is; an `s3://` URI whose key globs, as the keys it matches.

    In an S3 key `*` matches `/` too: keys are names, not folders.
    """
    parts = urlsplit(uri)
    if _MAGIC.search(parts.path) is None:
        return [uri]
    if parts.scheme != "s3":
        raise SourceError(
            f"cannot glob {uri}: globs work in local paths and s3:// URIs; "
            f"name each {parts.scheme}:// file in a spec of its own"
        )
    bucket, pattern = parts.netloc, parts.path.lstrip("/")
    magic = _MAGIC.search(pattern)
    prefix = pattern[: magic.start()] if magic else pattern
    keys = [k for k in _s3_keys(bucket, prefix) if fnmatch.fnmatchcase(k, pattern)]
    if not keys:
        raise SourceError(f"no {what} matches {uri}")
    return [f"s3://{bucket}/{k}" for k in sorted(keys)]


def _s3_keys(bucket: str, prefix: str) -> list[str]:
    import boto3  # only S3 globs need it
    import botocore.exceptions as bx

    try:
        pages = boto3.client("s3").get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in pages.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise SourceError(f"cannot list s3://{bucket}/{prefix}*: {exc}") from exc
