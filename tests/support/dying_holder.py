"""A daemon that claims a tick, runs it, and is killed: `python -m tests.support.dying_holder
STATE SPEC_FILE TICK LEASE_SECONDS` claims the spec's tick in the ledger as HOLDER, prints
the run's id, and runs the export (its heartbeat renewing the lease) until it is killed."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

from exportctl.jobs.job import run_spec
from exportctl.jobs.options import Options
from exportctl.jobs.stop import Stop
from exportctl.ledger.store import Ledger
from exportctl.plan.compiler import new_run_id
from exportctl.run.result import Observer
from exportctl.spec.load import load_specs

HOLDER = "dying-host:4242:dead"


def main(state: str, spec_file: str, tick_text: str, lease: str) -> None:
    ledger = Ledger(state)
    (spec,), problems = load_specs((Path(spec_file),))
    assert not problems, problems
    tick = datetime.fromisoformat(tick_text)
    run_id = new_run_id(ledger.clock.now())
    claim = ledger.claim(spec.name, tick, HOLDER, run_id, timedelta(seconds=float(lease)))
    assert claim.ours, claim
    print(run_id, flush=True)
    options = Options(trigger="schedule", scheduled_for=tick, run_id=run_id)
    run_spec(spec, ledger, options, ledger.clock.now(), Observer(), Stop())


if __name__ == "__main__":
    main(*sys.argv[1:])
