"""A system's configuration as rows: one per file (and one for its environment variables).

Written as YAML or JSON, the rows are the portable document `exportctl restore` reads
back; its schema is schemas/config-export.schema.json.
"""
