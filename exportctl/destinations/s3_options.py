"""The `s3://` destination's options, without boto3 (the spec parser needs them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from exportctl.errors import OptionError

#: The smallest part S3 accepts in a multipart upload (but the last).
MIN_PART_SIZE = 5 * 2**20


@dataclass(frozen=True)
class S3Options:
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    server_side_encryption: Literal["AES256", "aws:kms", "aws:kms:dsse"] | None = None
    kms_key_id: str | None = None
    storage_class: str | None = None
    part_size: int = 16 * 2**20
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.part_size < MIN_PART_SIZE:
            raise OptionError(
                "part_size", "`part_size` must be at least 5MiB, the smallest part S3 accepts"
            )
        if self.kms_key_id and self.server_side_encryption not in ("aws:kms", "aws:kms:dsse"):
            raise OptionError("kms_key_id", "`kms_key_id` needs `server_side_encryption: aws:kms`")
