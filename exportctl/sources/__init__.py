"""Sources yield chunks of rows as pandas DataFrames with Arrow-backed columns."""
