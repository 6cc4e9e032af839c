"""Redaction: secrets hidden in a chunk before it is encoded, so no format can leak them.

Two kinds of rule, both from the spec's `redact` section:

- by name (`keys`): an output column whose name, or the name of a source column it is
  made from, holds a secret key (`password` in `db_password`, `api_key` in
  `PROXYWHIRL_API_KEY`) is masked, hashed or dropped whole (`columns`); inside nested
  values (maps, dicts, lists) a key is (`nested`).
- by value (`text`): text anywhere (free text, URLs, log messages, JSON text) is scanned
  for URL credentials (`scheme://user:pass@`), `Authorization` headers and bearer tokens,
  `key=value` / `key: value` / `"key": "value"` pairs whose key is a secret name, and the
  spec's own patterns; only the secret part is replaced.

Each distinct text is scanned once per chunk. The counts say, per rule, how many values
the rule changed; they never hold a value.
"""
