"""The daemon's specs: loaded again when their files change, applied to its schedule.

An invalid file keeps its previous version running; a removed spec's slot goes (a run of
it still going finishes); a spec whose schedule changed gets its next tick again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from exportctl.daemon.slots import Slot, every, first_slot
from exportctl.daemon.telemetry import Metrics, log_event
from exportctl.errors import ExportctlError, SpecError, SpecProblem, scrub
from exportctl.lang import schedule as scheduler
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.spec.load import spec_files

Loader = Callable[[Iterable[Path]], tuple[list[ExportSpec], list[SpecProblem]]]


def signature(paths: tuple[Path, ...]) -> object:
    """What the spec files look like now: names, mtimes and sizes."""
    try:
        files = spec_files(paths)
        return [(str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files]
    except (ExportctlError, OSError) as exc:
        return str(exc)


def reloaded(
    load: Loader, paths: tuple[Path, ...], slots: dict[str, Slot], metrics: Metrics
) -> tuple[dict[str, ExportSpec], int] | None:
    """The scheduled specs loaded again, with the slots' versions of invalid files; and how
    many problems were found. None when loading failed for a reason not the specs'."""
    try:
        specs, problems = load(paths)
    except SpecError as exc:  # a named path is gone: keep everything
        specs, problems = [], exc.problems
        keep_all = True
    except Exception as exc:  # not the specs' fault: keep everything, try again soon
        log_event("specs.reload_failed", logging.ERROR, error=scrub(f"{type(exc).__name__}: {exc}"))
        metrics.reloads.labels("failed").inc()
        return None
    else:
        keep_all = False
    for problem in problems:
        where = {"file": problem.file, "line": problem.line, "path": problem.path}
        log_event("spec.invalid", logging.ERROR, **where, problem=problem.message)
    metrics.reloads.labels("invalid" if problems else "ok").inc()
    bad = {Path(p.file).resolve() for p in problems}
    new = {s.name: s for s in specs if s.schedule is not None}
    for slot in slots.values():
        if keep_all or slot.spec.path in bad:
            new.setdefault(slot.spec.name, slot.spec)
    return new, len(problems)


def apply(
    slots: dict[str, Slot], specs: dict[str, ExportSpec], now: datetime, ledger: Ledger
) -> None:
    """`slots` made to schedule `specs`: new ones added, gone ones removed, changed ones updated."""
    for name in [n for n in slots if n not in specs]:
        del slots[name]  # a run still going finishes; shutdown waits for it
        log_event("spec.removed", spec=name)
    for name, spec in specs.items():
        slot = slots.get(name)
        if slot is None:
            slots[name] = slot = first_slot(spec, now, ledger)
            due, tick = slot.due.isoformat(), slot.tick.isoformat()
            log_event("spec.scheduled", spec=name, due=due, tick=tick)
        elif slot.spec.digest != spec.digest:
            rescheduled = slot.spec.schedule != spec.schedule
            slot.spec = spec  # first: the next tick is in the new spec's timezone
            if rescheduled:
                slot.rule = scheduler.parse(every(spec))
                slot.next_tick(now)
            log_event("spec.updated", spec=name, sha256=spec.digest)
