"""SQL databases through SQLAlchemy: SQLite (the embedded default) and PostgreSQL.

Filters become WHERE clauses with bound parameters; rows stream through a
server-side cursor in chunks, so memory follows the chunk size, not the table.

- `source`: the source a spec names (`exportctl.sources.sql:SqlSource`);
- `query`: the SELECT for a request; `pushdown`: filters as SQL; `lists`: long IN lists;
- `connection`: engines, sessions and database errors; `column_types`: each column's type;
- `rows`: result rows as typed frames; `sqlite_arrow`: SQLite read by ADBC into Arrow;
  `sqlite_files`: a SQLite file opened read-only.
"""
