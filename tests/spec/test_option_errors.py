"""An options class names the key it refuses (`OptionError`); the problem is located there."""

from __future__ import annotations

from pathlib import Path

import pytest

from exportctl.errors import SpecError
from exportctl.spec.load import load_spec

SPEC = """\
version: 1
name: options
source: {source}
format: {format}
destination: {destination}
"""


@pytest.mark.parametrize(
    ("parts", "line", "path", "message"),
    [
        (
            {"format": "{type: csv, delimiter: '\"'}"},
            4,
            "$.format.delimiter",
            "'\"' cannot separate CSV fields",
        ),
        (
            {"format": "{type: csv, delimiter: ';', 'null': 'a;b'}"},
            4,
            "$.format.null",
            "the `null` marker cannot hold a quote, a line break or the delimiter",
        ),
        (
            {"source": "{type: sql, url: 'pg://h:port/db'}"},
            3,
            "$.source.url",
            "`url` is not a database URL such as sqlite:///system.db",
        ),
        (
            {"destination": "{uri: 's3://b/k.csv', s3: {part_size: 1MiB}}"},
            5,
            "$.destination.s3.part_size",
            "`part_size` must be at least 5MiB, the smallest part S3 accepts",
        ),
        (
            {"destination": "{uri: 's3://b/k.csv', s3: {kms_key_id: k}}"},
            5,
            "$.destination.s3.kms_key_id",
            "`kms_key_id` needs `server_side_encryption: aws:kms`",
        ),
    ],
)
def test_an_option_error_is_located_at_its_key(
    tmp_path: Path, parts: dict[str, str], line: int, path: str, message: str
) -> None:
    given = {"source": "{type: sql, url: 'sqlite:///s.db'}", "format": "csv"}
    spec = tmp_path / "options.yaml"
    spec.write_text(
        SPEC.format(**{**given, "destination": "out.csv", **parts}) + "query: {table: t}\n"
    )

    with pytest.raises(SpecError) as caught:
        load_spec(spec, env={})

    assert [(p.line, p.path, p.message) for p in caught.value.problems] == [(line, path, message)]
