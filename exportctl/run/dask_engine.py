"""The Dask engine: each partition one task on a Dask distributed cluster.

This process (the driver) cuts the partitions, submits one task each
(`dask_task.run_partition`, `pure=False`), hears their progress on the run's pub/sub
topic and sums it for its observer, and gathers the parts the workers committed, which
the runner lists in the manifest it writes last. A task's own transient failures are
retried in the task (the spec's `retry`); a worker that dies has its task run again
elsewhere by the scheduler (`distributed.scheduler.allowed-failures`), writing the same
part names. When a partition cannot succeed the driver sets the run's abort event, waits
for the running tasks to stop, and removes every part of the run, whoever wrote it.

Dask is imported only here, and only when a spec asks for this engine.
"""

from __future__ import annotations

import os
import queue
import secrets
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

from exportctl.clock import SYSTEM
from exportctl.errors import ExportctlError, RunError, TransientError
from exportctl.plan.compiler import ExportPlan, Part
from exportctl.plan.partitions import Partition
from exportctl.run.dask_task import PartitionDone, PartitionTask, run_partition
from exportctl.run.engine import Exported, Totals
from exportctl.run.parts import remove_run_parts
from exportctl.run.pipeline import Stages
from exportctl.run.recipe import recipe_of
from exportctl.secrecy import scrub

#: Seconds between two looks at the observer (a stop request) while no task reports.
POLL = 0.5
#: Seconds a failed run waits for its running tasks to stop before removing their parts.
SETTLE = 60.0
#: Seconds to reach the scheduler.
CONNECT = 30.0


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise RunError(
            "the `dask` engine needs Dask: install `exportctl[dask]` (dask[distributed]), "
            "here and on the workers"
        ) from None
    return distributed


class DaskEngine:
    """The partitions as tasks on the cluster at `address`; without one, on a cluster of
    single-threaded worker processes on this machine (one per core), for the run."""

    def __init__(self, address: str | None = None):
        self.address = address

    def export(self, plan: ExportPlan, partitions: Sequence[Partition], stages: Stages) -> Exported:
        distributed = _distributed()
        with _connected(distributed, self.address) as client:
            return _Run(distributed, client, plan, stages).export(partitions)


def _cores() -> int:
    """The cores this process may run on (a container's share, not the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def _connected(distributed: Any, address: str | None) -> Iterator[Any]:
    """A client of the scheduler at `address`, or of a cluster started for the run."""
    with ExitStack() as stack:
        try:
            if address is None:
                cluster = distributed.LocalCluster(
                    n_workers=_cores(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                )
                stack.enter_context(cluster)
                client = distributed.Client(cluster, set_as_default=False)
            else:
                client = distributed.Client(address, timeout=CONNECT, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            where = scrub(address) if address else "a cluster on this machine"
            raise TransientError(f"cannot reach the Dask scheduler at {where}: {exc}") from None
        stack.enter_context(client)
        yield client


class _Run:
    """One run's tasks: submitted, heard, gathered, or stopped and cleaned up."""

    def __init__(self, distributed: Any, client: Any, plan: ExportPlan, stages: Stages):
        self.distributed, self.client, self.plan, self.stages = distributed, client, plan, stages
        self.topic = f"exportctl-{plan.run_id}-{secrets.token_hex(4)}"
        self.heard: queue.Queue[dict[str, Any]] = queue.Queue()
        self.futures: dict[int, Any] = {}
        #: Each partition as a failure names it: `partition 2 (26 <= id < 51)`.
        self.named: dict[int, str] = {}

    def export(self, partitions: Sequence[Partition]) -> Exported:
        self.stages.begin()
        abort = self.distributed.Event(f"{self.topic}-abort", client=self.client)
        self.client.subscribe_topic(self.topic, lambda event: self.heard.put(event[1]))
        try:
            self._submit(partitions, abort.name)
            done = self._gathered(len(partitions))
            exported = self._merged([done[p.index] for p in partitions])
            self._check_size(exported)
        except BaseException:
            with suppress(Exception):  # the scheduler may be what failed
                abort.set()
                self._settle()
            remove_run_parts(self.plan)
            raise
        finally:
            # Every task has ended: an upload still open is a killed worker's. What cannot
            # be removed now, the spec's next run removes before it starts.
            with suppress(Exception):
                self.client.unsubscribe_topic(self.topic)
            with suppress(Exception):
                self.plan.destination_for().remove_leftovers(self.plan.destination)
        return exported

    def _submit(self, partitions: Sequence[Partition], abort: str) -> None:
        recipe, wants_total = recipe_of(self.plan), self.stages.observer.wants_total
        for partition in partitions:
            assert partition.range is not None  # `dask` needs `partitions` (spec rules)
            task = PartitionTask(
                recipe, partition.index, partition.range, self.topic, abort, wants_total
            )
            future = self.client.submit(run_partition, task, pure=False)
            index = partition.index
            future.add_done_callback(lambda _, i=index: self.heard.put({"partition": i, "end": 1}))
            self.futures[index] = future
            self.named[index] = f"partition {index} ({partition.range})"

    def _gathered(self, count: int) -> dict[int, PartitionDone]:
        """Each partition's result as its task ends; progress meanwhile. Raises the first
        partition's failure."""
        observer = self.stages.observer
        totals, read = Totals(observer, count), dict.fromkeys(self.futures, 0)
        done: dict[int, PartitionDone] = {}

        def reads(index: int, rows: int) -> None:
            more = max(0, rows - read[index])  # a task run again counts from zero
            read[index] += more
            observer.advance(more)

        while len(done) < count:
            try:
                message = self.heard.get(timeout=POLL)
            except queue.Empty:
                observer.advance(0)  # honours a stop request
                continue
            index = message["partition"]
            if "end" in message:
                done[index] = self._result(index)
                reads(index, done[index].read)
                for part in done[index].parts:
                    self.stages.files.on_commit(part)  # the observer's, unless merged
            elif "total" in message:
                totals.of(index)(message["total"])
            elif index not in done:
                reads(index, message["read"])
        return done

    def _result(self, index: int) -> PartitionDone:
        """The partition's result, or its failure as the run's."""
        future, which = self.futures[index], self.named[index]
        if future.status == "finished":
            result: PartitionDone = future.result()
            return result
        if future.status == "cancelled":
            raise RunError(f"{which} was cancelled on the Dask cluster")
        error = future.exception()
        if isinstance(error, TransientError):  # retried in the task already, as the spec allows
            raise RunError(f"{which}: {error}")
        if isinstance(error, ExportctlError):
            raise type(error)(f"{which}: {error}")
        # KilledWorker: the scheduler gave up after its workers died running the task.
        raise RunError(f"{which} failed on the Dask cluster: {type(error).__name__}: {error}")

    def _settle(self) -> None:
        """Wait for the tasks to end (the running ones stop at their next progress report,
        as the abort event is set); past `SETTLE` seconds, cancel them."""
        deadline = SYSTEM.monotonic() + SETTLE
        futures = list(self.futures.values())
        while not all(f.done() for f in futures) and SYSTEM.monotonic() < deadline:
            with suppress(queue.Empty):
                self.heard.get(timeout=POLL)
        self.client.cancel([f for f in futures if not f.done()])

    def _check_size(self, exported: Exported) -> None:
        """The spec's `max_bytes` is the whole export's: each task knew only its own."""
        limit = self.plan.spec.destination.max_bytes
        stored = sum(p.file.bytes for p in exported.parts)
        if limit is not None and stored > limit:
            raise RunError(
                f"the export would exceed `max_bytes` ({limit:,} bytes as stored); nothing "
                "was written. Raise the limit, or narrow the export"
            )

    def _merged(self, results: list[PartitionDone]) -> Exported:
        """The partitions' parts in order, and what they found, as the run's."""
        stages = self.stages
        parts: list[Part] = []
        warnings: list[str] = []
        for result in results:
            parts += result.parts
            warnings += result.warnings
            stages.files.columns = stages.files.columns or list(result.columns)
            stages.files.rows += sum(p.rows for p in result.parts)
            stages.rejected.rows += result.invalid_rows
            stages.rejected.first_reason = stages.rejected.first_reason or result.first_invalid
            stages.credentials.revealed += result.revealed
            if stages.redactor is not None:
                stages.redactor.counts.update(result.redactions)
        stages.files.parts = parts
        return Exported(parts, tuple(dict.fromkeys(warnings)))
