"""The files runs wrote: the parts of a split export as each commits, and what retention
may delete and has deleted."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa

from exportctl.errors import scrub
from exportctl.ledger import schema as t
from exportctl.ledger.base import Connected
from exportctl.ledger.liveness import aware

#: Values bound in one `IN (...)`.
_BATCH = 1000


class RunFiles(Connected):
    def record_part(
        self, run_id: str, uri: str, size: int, digest: str, rows: int, last_position: str | None
    ) -> None:
        """A part of a split export, recorded the moment it is committed."""
        with self.transaction() as conn:
            spec = conn.execute(sa.select(t.runs.c.spec).where(t.runs.c.id == run_id)).scalar_one()
            conn.execute(
                t.run_files.insert().values(
                    run_id=run_id,
                    spec=spec,
                    uri=scrub(uri),
                    role="part",
                    bytes=size,
                    sha256=digest,
                    rows=rows,
                    last_position=last_position,
                )
            )

    def forget_parts(self, run_id: str, keep: Collection[str] = ()) -> list[str]:
        """Drop the parts a failed attempt recorded, but `keep`; the next rewrites them."""
        with self.transaction() as conn:
            where = (t.run_files.c.run_id == run_id) & (t.run_files.c.role == "part")
            where &= t.run_files.c.uri.not_in([scrub(uri) for uri in keep])
            uris = list(conn.execute(sa.select(t.run_files.c.uri).where(where)).scalars())
            conn.execute(t.run_files.delete().where(where))
            return uris

    def parts(self, run_id: str) -> list[dict[str, Any]]:
        """The parts a run committed, in order."""
        query = (
            sa.select(t.run_files)
            .where(t.run_files.c.run_id == run_id, t.run_files.c.role == "part")
            .order_by(t.run_files.c.uri)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def stored_runs(self, spec: str) -> list[dict[str, Any]]:
        """The spec's succeeded runs and their files not yet deleted by retention, newest first."""
        query = (
            sa.select(t.runs.c.id, t.runs.c.started_at, t.run_files.c.uri, t.run_files.c.role)
            .join(t.run_files, t.run_files.c.run_id == t.runs.c.id)
            .where(
                t.run_files.c.spec == spec,
                t.run_files.c.deleted_at.is_(None),
                t.runs.c.status == "succeeded",
            )
            .order_by(t.runs.c.started_at.desc(), t.runs.c.id.desc(), t.run_files.c.uri)
        )
        runs: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                run = runs.setdefault(
                    row["id"],
                    {"id": row["id"], "started_at": aware(row["started_at"]), "files": []},
                )
                run["files"].append({"uri": row["uri"], "role": row["role"]})
        return list(runs.values())

    def held_uris(self, spec: str, among: Collection[str]) -> set[str]:
        """Those of `among` still stored for a run but the spec's succeeded ones: never
        retention's to delete."""
        others = (t.runs.c.spec != spec) | (t.runs.c.status != "succeeded")
        held: set[str] = set()
        uris = list(among)
        with self.engine.connect() as conn:
            # In batches: databases cap a statement's parameters (psycopg at 65,535), and a
            # policy tightened on a long history lets go of that many files at once.
            for start in range(0, len(uris), _BATCH):
                query = (
                    sa.select(t.run_files.c.uri)
                    .join(t.runs, t.run_files.c.run_id == t.runs.c.id)
                    .where(t.run_files.c.uri.in_(uris[start : start + _BATCH]), others)
                    .where(t.run_files.c.deleted_at.is_(None))
                )
                held.update(conn.execute(query).scalars())
        return held

    def files_deleted(
        self,
        spec: str,
        files: Sequence[tuple[str, str, dict[str, Any]]],
        event: str = "retention.deleted",
    ) -> None:
        """Retention (or a later run, see `leftovers`) deleted these (run id, URI, detail)
        files: mark each so, and say so in the audit trail; one transaction for them all."""
        with self.transaction() as conn:
            for run_id, uri, detail in files:
                conn.execute(
                    t.run_files.update()
                    .where(t.run_files.c.run_id == run_id, t.run_files.c.uri == uri)
                    .values(deleted_at=self.clock.now())
                )
                self.audit(conn, event, spec, run_id, uri=uri, **detail)
