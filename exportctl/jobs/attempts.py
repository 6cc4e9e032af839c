"""Attempts of one run: again while it fails for a reason that may pass, as the spec allows.

Every attempt writes to the same destination with the same window; an incremental
split export keeps the parts that still verify and goes on after them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any, cast

import tenacity

from exportctl.clock import Clock
from exportctl.destinations.base import WrittenFile
from exportctl.destinations.uris import part_uri, tag_of_part
from exportctl.errors import ExportctlError
from exportctl.jobs.stop import Stop
from exportctl.jobs.verify import verify_files
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.plan import incremental
from exportctl.plan.compiler import ExportPlan, Part, narrowed
from exportctl.run import runner
from exportctl.run.parts import remove_run_parts
from exportctl.run.result import Observer, RunResult


def retrying(spec: ExportSpec, stop: Stop, clock: Clock, **conditions: Any) -> tenacity.Retrying:
    """The spec's retry policy: exponential backoff with jitter, within attempts and budget.

    Backoff sleeps on `clock`, and the budget is measured on it (tenacity's own
    `stop_before_delay` reads the machine's clock), from the policy's making.
    """
    policy = spec.retry
    attempts, budget = tenacity.stop_after_attempt(policy.attempts), _before(policy.budget, clock)
    return tenacity.Retrying(
        stop=lambda state: attempts(state) or budget(state),
        wait=tenacity.wait_exponential_jitter(multiplier=policy.backoff, max=policy.max_backoff),
        sleep=partial(stop.sleep, clock=clock),
        reraise=True,
        **conditions,
    )


def _before(budget: float, clock: Clock) -> Callable[[tenacity.RetryCallState], bool]:
    """Stop when the next attempt would start `budget` seconds or more after the first."""
    start = clock.monotonic()
    return lambda state: clock.monotonic() - start + state.upcoming_sleep >= budget


def run_with_retries(
    plan: ExportPlan, ledger: Ledger, observer: Observer, stop: Stop, clock: Clock
) -> RunResult:
    """Run the plan, again while it fails for a reason that may pass, as the spec allows."""
    spec = plan.spec
    attempts = 0

    def attempt() -> RunResult:
        nonlocal attempts
        attempts += 1
        try:
            again = plan if attempts == 1 else _plan_again(plan, ledger)
        except ExportctlError as exc:  # the store still down, say: this attempt failed too
            failed = runner.failed(plan, exc, clock.now(), clock.now())
            return replace(failed, attempts=attempts)
        return replace(runner.run(again, observer, clock=clock), attempts=attempts)

    def record(state: tenacity.RetryCallState) -> None:
        failed = state.outcome.result() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        error = failed.error if failed else None
        ledger.event(
            "run.attempt_failed",
            spec.name,
            plan.run_id,
            attempt=state.attempt_number,
            error=error,
            retry_in=round(wait, 3),
        )

    policy = retrying(
        spec,
        stop,
        clock,
        retry=tenacity.retry_if_result(lambda r: r.status == "failed" and r.transient),
        before_sleep=record,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    return cast(RunResult, policy(attempt))


def _plan_again(plan: ExportPlan, ledger: Ledger) -> ExportPlan:
    """The plan for another attempt of the same run: same window, same files.

    An incremental split export keeps the parts that still verify and goes on after
    them; any other rewrites its parts, so those of the failed attempt are dropped.
    What the failed attempt could not clean up (an upload it could not abort while
    the store was unreachable) is removed first.
    """
    destination = plan.destination_for()
    destination.remove_leftovers(plan.destination)
    if plan.window is not None and resumes_parts(plan.spec):
        unfinished = {"id": plan.run_id, "destination": plan.destination}
        kept = kept_parts(ledger, unfinished, plan.spec.destination.options)
        ledger.forget_parts(plan.run_id, keep=[p.file.uri for p in kept])  # to be rewritten
        return narrowed(plan, window=plan.window, destination=plan.destination, resume=kept)
    # The ledger holds the parts' URIs masked; the plan knows the real ones.
    recorded = len(ledger.forget_parts(plan.run_id))
    if plan.spec.engine.partitions is not None:  # named by partition: the store lists them
        remove_run_parts(plan)
        return plan
    for index in range(1, recorded + 1):
        destination.delete(part_uri(plan.destination, index, plan.parts_tag))
    return plan


def resumes_parts(spec: ExportSpec) -> bool:
    """Whether a retry keeps a failed attempt's committed parts and goes on after them: an
    incremental split export's, which follow the cursor. Not a partitioned export's: its
    parts follow key ranges, which a retry reads again from the first."""
    split = spec.incremental is not None and spec.destination.splits
    return split and spec.engine.partitions is None


def kept_parts(ledger: Ledger, unfinished: dict[str, Any], options: Any) -> tuple[Part, ...]:
    """The unfinished run's parts that still verify, up to the first that does not."""
    kept: list[Part] = []
    recorded_parts = ledger.parts(unfinished["id"])
    destination = unfinished["destination"]
    tag = tag_of_part(destination, recorded_parts[0]["uri"]) if recorded_parts else None
    for recorded in recorded_parts:
        expected = part_uri(destination, len(kept) + 1, tag)
        if recorded["uri"] != expected or not verify_files([recorded], options)[0]["ok"]:
            break
        written = WrittenFile(recorded["uri"], recorded["bytes"], recorded["sha256"])
        kept.append(Part(written, recorded["rows"], incremental.decode(recorded["last_position"])))
    return tuple(kept)
