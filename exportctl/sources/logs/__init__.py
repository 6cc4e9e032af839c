"""Log files as rows: loguru's serialized JSON lines, other JSON lines, or text cut by a regex.

Files are found by path or glob (relative to the spec's folder), by a URI that
smart-open reads, or by a glob over `s3://` keys, and are read in time order,
rotated `.gz` files included. A line that is not a record (broken JSON, invalid
UTF-8, longer than `max_line_bytes`, not matching the pattern) is counted and, as
the spec chooses, skipped or fatal; it never ends a run halfway with a partial file.

One module per concern: `files` finds them, `lines` reads them, `loguru`, `jsonl`
and `regex` parse a line each, `levels` ranks levels, `source` puts it together.
"""
