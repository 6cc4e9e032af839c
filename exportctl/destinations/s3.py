"""S3 and S3-compatible stores: an object appears only once complete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

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
            raise ValueError("`part_size` must be at least 5MiB, the smallest part S3 accepts")
        if self.kms_key_id and self.server_side_encryption not in ("aws:kms", "aws:kms:dsse"):
            raise ValueError("`kms_key_id` needs `server_side_encryption: aws:kms`")


class S3Destination:
    """Writes `s3://bucket/key` URIs."""

    schemes = ("s3",)
    options_key: ClassVar[str | None] = "s3"
    Options = S3Options

    def __init__(self, options: S3Options | None = None):
        self.options = options or S3Options()
