"""One partition of a run as a Dask task, run in a worker process.

The task carries the plan's recipe (run/recipe.py), never the plan: the worker loads the
spec file and reads the credentials from its own environment. It runs the same pipeline
as the local engine into a `FileSet` of its own, whose parts are named by the partition
(a task run again, after its worker died, writes the same names), and commits them
through the destination; on failure it removes what it wrote. It publishes its progress
on the run's topic (distributed's pub/sub) every `INTERVAL` seconds, and then checks
whether the driver asked the run's tasks to stop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tenacity

from exportctl.clock import SYSTEM, Clock, Event
from exportctl.errors import ExportctlError, RunError, TransientError, ValidationError
from exportctl.plan.compiler import ExportPlan, Part
from exportctl.plan.partitions import KeyRange, Partition, partition_at
from exportctl.run.engine import discard
from exportctl.run.parts import FileSet
from exportctl.run.pipeline import Stages, export_partition
from exportctl.run.recipe import PlanRecipe, rebuilt
from exportctl.run.rejected import Rejected
from exportctl.run.result import Observer
from exportctl.run.runner import failure_message, redactor_of
from exportctl.transforms.credentials import CredentialsStage
from exportctl.transforms.secrets import SecretValues

#: Seconds between two progress messages (and checks for the driver's stop).
INTERVAL = 0.5


@dataclass(frozen=True)
class PartitionTask:
    """What one task is sent: the recipe of the run's plan and the partition to export."""

    recipe: PlanRecipe
    index: int
    key_range: KeyRange
    #: The pub/sub topic the driver hears the run's progress on.
    topic: str
    #: The name of the `distributed.Event` the driver sets when the run fails.
    abort: str
    #: The driver shows a total: count the partition's rows aside.
    wants_total: bool = False


@dataclass(frozen=True)
class PartitionDone:
    """What a task returns: its parts as committed, and what the driver sums."""

    index: int
    parts: tuple[Part, ...]
    columns: tuple[str, ...]
    #: Rows read (the progress), written or not.
    read: int
    warnings: tuple[str, ...] = ()
    invalid_rows: int = 0
    first_invalid: str | None = None
    #: Credentials decrypted (`credentials: reveal`).
    revealed: int = 0
    redactions: dict[str, int] = field(default_factory=dict)


def run_partition(task: PartitionTask) -> PartitionDone:
    """The task: the partition exported, again while it fails for a reason that may pass
    (the spec's `retry`, attempts and backoff); an error the driver can unpickle."""
    import distributed

    worker = distributed.get_worker()
    progress = Progress(
        task, lambda message: worker.log_event(task.topic, message), distributed.Event(task.abort)
    )
    try:
        plan = rebuilt(task.recipe)
        partition = partition_at(plan, task.index, task.key_range)
        policy = plan.spec.retry
        wait, most = policy.backoff, policy.max_backoff
        backoff = tenacity.wait_exponential_jitter(multiplier=wait, max=most)
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.attempts),
            wait=backoff,
            sleep=SYSTEM.sleep,
            retry=tenacity.retry_if_exception_type(TransientError),
            reraise=True,
        )
        return retrying(_attempt, plan, partition, progress)
    except ExportctlError as exc:
        raise told(exc) from None


def _attempt(plan: ExportPlan, partition: Partition, progress: Progress) -> PartitionDone:
    """One attempt: its parts committed, or none left."""
    files = FileSet(plan, lambda part: None, partitioned=True)
    assert partition.range is not None  # the dask engine runs partitioned specs only
    files.begin_partition(partition.index, partition.range.to_json())
    rejected = Rejected(plan)
    secrets = SecretValues(rejected.hidden)
    credentials = CredentialsStage(plan.spec.credentials)
    stages = Stages(progress, files, rejected, credentials, secrets, redactor_of(plan))
    try:
        warnings = export_partition(plan, partition, stages, progress.total)
        parts = files.close()
    except BaseException as exc:
        raise told(_discarded(exc, files, rejected), secrets) from None
    redactor = stages.redactor
    return PartitionDone(
        index=partition.index,
        parts=tuple(parts),
        columns=tuple(files.columns),
        read=progress.read,
        warnings=(*warnings,),
        invalid_rows=rejected.rows,
        first_invalid=rejected.first_reason,
        revealed=credentials.revealed,
        redactions=dict(redactor.counts) if redactor is not None else {},
    )


def _discarded(error: BaseException, files: FileSet, rejected: Rejected) -> BaseException:
    """What the attempt wrote removed, its committed parts too; the destination's account
    of the failure if it gave one, else `error`."""
    try:
        discard(error, files, rejected, committed=True)
    except Exception as account:
        return account
    return error


def told(error: BaseException, secrets: SecretValues | None = None) -> RunError:
    """`error` as the driver hears it: one of our kinds, which unpickles anywhere, its
    message scrubbed of the secrets at hand (a library's text may quote a value)."""
    message = failure_message(error, secrets)
    if isinstance(error, TransientError):
        return TransientError(message)
    if isinstance(error, ValidationError):
        return ValidationError(message)
    return RunError(message)


class Progress(Observer):
    """A task's progress, published to the driver; and the driver's stop, heard."""

    def __init__(
        self,
        task: PartitionTask,
        publish: Callable[[dict[str, Any]], None],
        abort: Event,
        clock: Clock = SYSTEM,
    ):
        self.index, self.wants_total = task.index, task.wants_total
        self.publish, self.abort, self.clock = publish, abort, clock
        self.read = 0
        self.told_at = clock.monotonic()

    def restart(self) -> None:
        self.read = 0

    def total(self, rows: int | None) -> None:
        self.publish({"partition": self.index, "total": rows})

    def advance(self, rows: int) -> None:
        self.read += rows
        if self.clock.monotonic() - self.told_at < INTERVAL:
            return
        self.told_at = self.clock.monotonic()
        self.publish({"partition": self.index, "read": self.read})
        if self.abort.is_set():
            raise RunError("stopped: another partition of the run failed")
