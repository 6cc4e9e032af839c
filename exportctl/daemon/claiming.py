"""Several daemons on one ledger: a tick is claimed in the ledger before it runs, so that
one daemon runs it.

The claim is one transaction (ledger/claims.py). Its holder renews its lease from the
daemon's loop (every quarter of the lease) and from the run's heartbeat; a daemon that
dies stops renewing, and once its lease has passed another daemon, which looks for such
claims at every step, takes the tick over: the run the dead one left is marked
interrupted in that transaction, what it wrote (temp files, committed parts) is removed
here, and the tick runs again. Retention runs within a run, so it too runs once per spec
and tick: the claim holder's.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from exportctl.daemon.telemetry import Metrics, log_event
from exportctl.daemon.work import Work
from exportctl.errors import scrub
from exportctl.jobs import leftovers
from exportctl.ledger.claims import Claim
from exportctl.ledger.store import Ledger
from exportctl.model import ExportSpec
from exportctl.plan.compiler import new_run_id

#: How long a claim lasts without renewal, unless `--lease` says otherwise.
DEFAULT_LEASE = timedelta(seconds=60)
#: The shortest lease: the loop renews every quarter of it, at most every couple of seconds.
MIN_LEASE = timedelta(seconds=5)


def daemon_id() -> str:
    """This daemon as a claim's holder: its host, its pid, and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Claimer:
    """This daemon's claims on ticks: taken, renewed, taken over and settled; counted."""

    def __init__(self, ledger: Ledger, metrics: Metrics, lease: timedelta, holder: str):
        self.ledger, self.metrics, self.lease, self.holder = ledger, metrics, lease, holder
        self.metrics.daemon.info({"holder": holder})
        #: When the loop renews this daemon's leases next.
        self.next_renew = datetime.min.replace(tzinfo=UTC)
        #: The ticks this daemon holds open claims on (ours, not yet settled).
        self.held: set[tuple[str, datetime]] = set()

    def claim_due(self, name: str, tick: datetime) -> Claim | None:
        """Claim a tick that came due: the claim, ours to run; None (counted and logged)
        when another daemon has it, or has run it."""
        claim = self._claim(name, tick)
        if claim.ours:
            self._hold(claim)
            return claim
        self.metrics.claimed_elsewhere.labels(name).inc()
        self.metrics.last_tick_elsewhere.labels(name).set(tick.timestamp())
        log_event(
            "tick.claimed_elsewhere",
            spec=name,
            scheduled_for=tick.isoformat(),
            holder=claim.holder,
            outcome=claim.outcome,
        )
        return None

    def take_over(self, name: str, tick: datetime) -> Claim | None:
        """Take over a claim whose lease has passed; None if another daemon was first."""
        claim = self._claim(name, tick)
        if not claim.ours:
            return None
        self._hold(claim)
        return claim

    def expired(self, names: Iterable[str]) -> list[tuple[str, datetime]]:
        """The open claims on these specs' ticks whose lease has passed."""
        return self.ledger.expired_claims(names)

    def renew(self, now: datetime) -> None:
        """Renew this daemon's live leases, every quarter of the lease, while it holds any."""
        if not self.held or now < self.next_renew:
            return
        self.next_renew = now + self.lease / 4
        self.ledger.renew_claims(self.holder, self.lease)

    def wake_at(self) -> datetime:
        """When the loop must step next for the leases' sake."""
        return self.next_renew if self.held else datetime.max.replace(tzinfo=UTC)

    def run(self, work: Work, spec: ExportSpec, claim: Claim) -> None:
        """In a worker thread: what an abandoned run left removed, the tick run, the claim
        settled with how the run ended; never raises."""
        if not self._still_ours(claim):
            return
        self.metrics.ticks_run.labels(spec.name).inc()
        self.metrics.last_tick_run.labels(spec.name).set(claim.tick.timestamp())
        status = "crashed"
        try:
            if claim.outcome == "taken_over":
                self._recover(spec, claim)
            status = work(spec, claim.tick, claim.run_id)
        finally:
            self.settle(claim, status)

    def _still_ours(self, claim: Claim) -> bool:
        """Whether the claim is still this daemon's as its run starts: a tick that waited
        for a worker while the loop could not renew its lease (slow alerts, an unreachable
        ledger) may have been taken over and run by another daemon meanwhile."""
        fields = {"spec": claim.spec, "scheduled_for": claim.tick.isoformat()}
        try:
            ours = self.ledger.confirm_claim(claim.spec, claim.tick, self.holder, self.lease)
        except Exception as exc:  # cannot tell: not run; its lease runs out for another
            log_event("ledger.unreachable", logging.ERROR, error=scrub(str(exc)), **fields)
            ours = False
        if not ours:
            self.held.discard((claim.spec, claim.tick))
            log_event("claim.lost", logging.WARNING, **fields)
        return ours

    def supersede(self, work: Work, spec: ExportSpec, claim: Claim) -> None:
        """A tick taken over after a newer one came due: what its run left is removed and
        it is settled as skipped, not run, as a missed tick would be (the newer one runs)."""
        self._recover(spec, claim)
        reason = "taken over from a daemon that stopped after a newer tick came due"
        work.skipped(spec.name, claim.tick, reason)
        self.settle(claim, "skipped")

    def settle(self, claim: Claim, status: str) -> None:
        """Finish the claim with the run's status; an interrupted run's claim is released
        instead, for another daemon to run the tick at once."""
        self.held.discard((claim.spec, claim.tick))
        fields = {"spec": claim.spec, "scheduled_for": claim.tick.isoformat()}
        try:
            if status == "interrupted":
                self.ledger.release_claim(claim.spec, claim.tick, self.holder)
                return
            outcome = "failed" if status == "crashed" else status
            holder = self.ledger.finish_claim(claim.spec, claim.tick, self.holder, outcome)
        except Exception as exc:  # the lease runs out, and another daemon takes the tick over
            log_event("ledger.unreachable", logging.ERROR, error=scrub(str(exc)), **fields)
            return
        if holder != self.holder:  # this daemon went silent for longer than its lease
            log_event("claim.lost", logging.WARNING, holder=holder, **fields)

    def release_unstarted(self) -> None:
        """Once the daemon's runs have ended: release the claims whose run never started
        (still waiting for a worker at shutdown), for another daemon to run at once."""
        for name, tick in list(self.held):
            self.held.discard((name, tick))
            try:
                self.ledger.release_claim(name, tick, self.holder)
            except Exception as exc:  # its lease runs out instead
                log_event("ledger.unreachable", logging.ERROR, error=scrub(str(exc)))

    def _hold(self, claim: Claim) -> None:
        """A claim just taken, its lease whole: the next renewal a quarter of it away."""
        self.held.add((claim.spec, claim.tick))
        self.next_renew = max(self.next_renew, self.ledger.clock.now() + self.lease / 4)

    def _claim(self, name: str, tick: datetime) -> Claim:
        run_id = new_run_id(self.ledger.clock.now())
        return self.ledger.claim(name, tick, self.holder, run_id, self.lease)

    def _recover(self, spec: ExportSpec, claim: Claim) -> None:
        """What the run the previous holder abandoned left at its destination, removed."""
        self.metrics.taken_over.labels(spec.name).inc()
        run = claim.abandoned
        fields = {"spec": spec.name, "scheduled_for": claim.tick.isoformat()}
        log_event("tick.taken_over", logging.WARNING, abandoned=run and run["id"], **fields)
        if run is None:
            return  # its holder died before the run was recorded
        try:
            leftovers.abandoned(spec, self.ledger, run)
        except Exception as exc:  # the run goes on; its own start removes leftovers too
            log_event("leftovers.failed", logging.ERROR, error=scrub(str(exc)), **fields)
