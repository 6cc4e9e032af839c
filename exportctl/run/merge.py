"""`engine.merge`: the partitions' parts joined into the one file the destination names.

The driver joins them once every partition is written, whichever engine wrote them: the
row formats by concatenating the parts' bytes (a CSV header is in the first part only;
gzip members and zstd frames concatenate into one stream), a format with a `join` of its
own (Parquet: row groups copied) by that. The file is written through the destination's
atomic commit like any export; the parts are deleted only once it is committed.
"""

from __future__ import annotations

import shutil
from collections.abc import Generator
from contextlib import closing
from typing import BinaryIO

from exportctl import registry
from exportctl.plan.compiler import ExportPlan, Part
from exportctl.run.parts import remove_run_parts


def merged(plan: ExportPlan, parts: list[Part]) -> Part:
    """The parts joined into the export's one file, committed; the parts then deleted."""
    encoder = registry.FORMATS[plan.spec.format.type]
    join = getattr(encoder, "join", None)
    destination = plan.destination_for()
    with closing(_opened(plan, parts)) as streams, destination.open(plan.destination) as sink:
        if join is not None:
            join(streams, sink.stream, plan.spec.format.options)
        else:
            for stream in streams:
                shutil.copyfileobj(stream, sink.stream, 1 << 20)
    assert sink.written is not None
    remove_run_parts(plan)
    return Part(sink.written, sum(p.rows for p in parts))


def _opened(plan: ExportPlan, parts: list[Part]) -> Generator[BinaryIO, None, None]:
    """Each part's bytes, opened as the join reaches it and closed as it moves on."""
    for part in parts:
        uri = part.file.uri
        with plan.destination_for(uri).read(uri) as stream:
            yield stream
