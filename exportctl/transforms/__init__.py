"""Pure functions over chunks of rows: filter, select fields (later: redact, validate)."""
