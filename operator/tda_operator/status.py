"""TDAJob status as a pure function of what the run recorded and the Job's state.

The durable inputs are the outcome records the pods leave on their result ConfigMaps
(:class:`IndexOutcome`, summed as :class:`Totals`); the Job's status says which indexes
finished; live pods only add why a pod is stuck or how one died without a record.
Nothing here is incremental state of the operator, so recomputing after a restart or a
missed event gives the same answer: no double counting.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

import tda_contract as contract
from pydantic import BaseModel

from .models import TERMINAL_PHASES, Condition, Phase, Progress, ResultRef, Summary, TDAJob, TDAJobStatus

MAX_MESSAGE_LENGTH = 1024
MAX_DIMENSIONS = 16
#: How long a finished Job waits for its pods' records to reach the operator's cache.
RECORD_GRACE_SECONDS = 30.0

# Job `Failed` condition reasons -> TDAJob reasons.
_JOB_FAILURE_REASONS = {
    "DeadlineExceeded": "DeadlineExceeded",
    "BackoffLimitExceeded": "BackoffLimitExceeded",
    "FailedIndexes": "FailedIndexes",
    "PodFailurePolicy": "InvalidInput",
}


# ----------------------------------------------------------------------------- records


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53 else 0


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    try:
        number = float(value)
    except OverflowError:  # a JSON integer beyond any float
        return 0.0
    return number if math.isfinite(number) and number >= 0 else 0.0


def _text(value: Any, limit: int = 512) -> str:
    return str(value)[:limit] if isinstance(value, str) else ""


@dataclass(frozen=True)
class IndexOutcome:
    """One index's record (the ``tda.io/outcome`` annotation), read defensively."""

    index: int
    datasets: int = 0
    succeeded: int = 0
    failed: int = 0
    interval_counts: tuple[int, ...] = ()
    max_persistence: tuple[float, ...] = ()
    compute_seconds: float = 0.0
    total: int = 0
    errors: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> IndexOutcome | None:
        """The record, or None for anything that is not one (never an exception)."""
        try:
            raw = json.loads(text or "")
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return None
        index = raw.get("index") if isinstance(raw, dict) else None
        if not isinstance(raw, dict) or raw.get("v") != contract.OUTCOME_VERSION or isinstance(raw.get("v"), bool):
            return None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < contract.MAX_SHARDS:
            return None
        counts: list[Any] = raw["intervalCounts"] if isinstance(raw.get("intervalCounts"), list) else []
        maxima: list[Any] = raw["maxPersistence"] if isinstance(raw.get("maxPersistence"), list) else []
        errors: list[Any] = raw["errors"] if isinstance(raw.get("errors"), list) else []
        return cls(
            index=index,
            datasets=_count(raw.get("datasets")),
            succeeded=_count(raw.get("succeeded")),
            failed=_count(raw.get("failed")),
            interval_counts=tuple(_count(c) for c in counts[:MAX_DIMENSIONS]),
            max_persistence=tuple(_number(p) for p in maxima[:MAX_DIMENSIONS]),
            compute_seconds=_number(raw.get("computeSeconds")),
            total=_count(raw.get("total")),
            errors=tuple(_text(e) for e in errors if isinstance(e, str))[: contract.OUTCOME_MAX_ERRORS],
        )


@dataclass
class Totals:
    """The outcomes of one run summed; kept up to date one record at a time."""

    outcomes: dict[int, IndexOutcome] = field(default_factory=dict)
    succeeded: int = 0
    failed: int = 0
    interval_counts: list[int] = field(default_factory=list)
    max_persistence: list[float] = field(default_factory=list)
    compute_seconds: float = 0.0
    total: int = 0

    def add(self, outcome: IndexOutcome) -> None:
        """Record an index's outcome (an index records once; a repeat replaces it)."""
        if outcome.index in self.outcomes:
            self.outcomes[outcome.index] = outcome
            self._recompute()
            return
        self.outcomes[outcome.index] = outcome
        self._include(outcome)

    def remove(self, index: int) -> None:
        if self.outcomes.pop(index, None) is not None:
            self._recompute()

    def _include(self, outcome: IndexOutcome) -> None:
        self.succeeded += outcome.succeeded
        self.failed += outcome.failed
        for dim, count in enumerate(outcome.interval_counts):
            if dim == len(self.interval_counts):
                self.interval_counts.append(0)
                self.max_persistence.append(0.0)
            self.interval_counts[dim] += count
        for dim, value in enumerate(outcome.max_persistence):
            while dim >= len(self.max_persistence):
                self.interval_counts.append(0)
                self.max_persistence.append(0.0)
            self.max_persistence[dim] = max(self.max_persistence[dim], value)
        self.compute_seconds += outcome.compute_seconds
        self.total = max(self.total, outcome.total)

    def _recompute(self) -> None:
        fresh = Totals()
        for outcome in self.outcomes.values():
            fresh.outcomes[outcome.index] = outcome
            fresh._include(outcome)
        vars(self).update(vars(fresh))


@dataclass(frozen=True)
class PodState:
    """What the status needs of a live pod of the run."""

    name: str
    index: int | None
    phase: str
    job_uid: str = ""
    exit_code: int | None = None
    exit_reason: str = ""
    first_error: str = ""
    unschedulable: str = ""
    finished_at: str = ""

    @classmethod
    def of(cls, pod: dict[str, Any]) -> PodState:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        raw_index = (meta.get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION)
        index = int(raw_index) if isinstance(raw_index, str) and raw_index.isdigit() else None
        exit_code, exit_reason, first_error, finished = None, "", "", ""
        for container in status.get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated")
            if terminated:
                exit_code = terminated.get("exitCode")
                exit_reason = _text(terminated.get("reason"), 64)
                finished = str(terminated.get("finishedAt") or "")
                record = IndexOutcome.parse(terminated.get("message"))  # our own record, or nothing
                first_error = record.errors[0] if record and record.errors else ""
        unschedulable = ""
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
                unschedulable = _text(condition.get("message"), 300)
        return cls(
            name=str(meta.get("name") or ""),
            index=index,
            phase=str(status.get("phase") or "Pending") if not meta.get("deletionTimestamp") else "Terminating",
            job_uid=str((meta.get("labels") or {}).get("batch.kubernetes.io/controller-uid") or ""),
            exit_code=exit_code if isinstance(exit_code, int) else None,
            exit_reason=exit_reason,
            first_error=first_error,
            unschedulable=unschedulable,
            finished_at=finished,
        )


COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


@dataclass(frozen=True)
class Observed:
    """Everything the status is computed from."""

    job: dict[str, Any] | None
    totals: Totals
    pods: tuple[PodState, ...] = ()
    manifest_count: int | None = None
    #: (reason, message) when the Job controller cannot create pods.
    creation_problem: tuple[str, str] | None = None


# ----------------------------------------------------------------------------- helpers


def parse_index_ranges(text: str | None) -> set[int]:
    """Job ``completedIndexes``/``failedIndexes`` syntax, e.g. ``"1,3-5"``."""
    indexes: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if part:
            low, _, high = part.partition("-")
            indexes.update(range(int(low), int(high or low) + 1))
    return indexes


def count_index_ranges(text: str | None) -> int:
    """How many indexes ``"1,3-5"`` names, without listing them."""
    total = 0
    for part in (text or "").split(","):
        part = part.strip()
        if part:
            low, _, high = part.partition("-")
            total += int(high or low) - int(low) + 1
    return total


def job_condition(job: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for condition in ((job or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def seconds_since(timestamp: str | None, now: str) -> float:
    if not timestamp:
        return 0.0
    parse = dt.datetime.fromisoformat
    return (parse(now.replace("Z", "+00:00")) - parse(timestamp.replace("Z", "+00:00"))).total_seconds()


def _shards(job: dict[str, Any] | None) -> int:
    return int(((job or {}).get("spec") or {}).get("completions") or 1)


def _known_total(tdajob: TDAJob, observed: Observed) -> int | None:
    annotations = ((observed.job or {}).get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(contract.ANNOTATION_DATASETS)
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    if tdajob.spec.input.datasets is None:
        return 1
    if observed.manifest_count is not None:
        return observed.manifest_count
    return observed.totals.total or None


def _index_size(total: int | None, shards: int, index: int) -> int:
    return len(contract.datasets_of_index(total, shards, index)) if total is not None else 0


def progress_of(tdajob: TDAJob, observed: Observed) -> Progress:
    """Dataset counts from the records; failed indexes without a record count all their datasets."""
    totals = observed.totals
    total = _known_total(tdajob, observed)
    shards = _shards(observed.job)
    status = (observed.job or {}).get("status") or {}
    unrecorded_failures = parse_index_ranges(status.get("failedIndexes")) - totals.outcomes.keys()
    failed = totals.failed + sum(_index_size(total, shards, i) for i in unrecorded_failures)
    running_indexes = {p.index for p in observed.pods if p.phase in ("Pending", "Running") and p.index is not None}
    running = sum(_index_size(total, shards, i) for i in running_indexes - totals.outcomes.keys())
    shown = total if total is not None else 0
    return Progress(
        total=shown,
        succeeded=totals.succeeded,
        failed=failed,
        running=running,
        text=f"{totals.succeeded}/{shown}" + (f" ({failed} failed)" if failed else ""),
    )


def summary_of(totals: Totals) -> Summary:
    return Summary(
        intervalCounts=list(totals.interval_counts),
        maxPersistence=list(totals.max_persistence),
        computeSeconds=round(totals.compute_seconds, 6),
    )


def result_ref(tdajob: TDAJob, shards: int) -> ResultRef:
    if tdajob.spec.output.url:
        return ResultRef(kind="ObjectStore", url=tdajob.spec.output.url, shards=shards)
    return ResultRef(kind="ConfigMap", namePrefix=f"{tdajob.metadata.name}-result-", shards=shards)


def conditions_for(
    phase: str, reason: str, message: str, generation: int, previous: list[Condition], now: str
) -> list[Condition]:
    """Ready/Complete/Failed; ``lastTransitionTime`` kept while a condition's status holds."""
    wanted = {
        "Ready": phase in (Phase.running.value, Phase.succeeded.value, Phase.suspended.value),
        "Complete": phase == Phase.succeeded.value,
        "Failed": phase == Phase.failed.value,
    }
    before = {c.type: c for c in previous}
    conditions = []
    for kind, is_true in wanted.items():
        status = "True" if is_true else "False"
        old = before.get(kind)
        since = old.lastTransitionTime if old is not None and old.status == status else now
        conditions.append(
            Condition(
                type=kind,
                status=status,  # type: ignore[arg-type]
                reason=reason or phase,
                message=message,
                lastTransitionTime=since,
                observedGeneration=generation,
            )
        )
    return conditions


def _status(tdajob: TDAJob, phase: str, reason: str, message: str, now: str, **fields: Any) -> TDAJobStatus:
    message = message[:MAX_MESSAGE_LENGTH]
    return TDAJobStatus(
        phase=phase,  # type: ignore[arg-type]
        reason=reason or None,
        message=message or None,
        conditions=conditions_for(phase, reason, message, tdajob.metadata.generation, tdajob.status.conditions, now),
        observedGeneration=tdajob.metadata.generation,
        **fields,
    )


def infeasible_status(tdajob: TDAJob, estimate: dict[str, Any], cap_bytes: int, now: str) -> TDAJobStatus:
    """Fail fast: the core's estimate says one dataset needs more memory than allowed."""
    needed = int(estimate.get("bytes", 0))
    details = ", ".join(f"{k}={v}" for k, v in estimate.items() if k != "bytes")
    message = (
        f"estimated {needed / 1024**3:.2f} GiB for one dataset exceeds the operator cap of "
        f"{cap_bytes / 1024**3:.2f} GiB ({details}); lower spec.computation.maxDimension or set "
        "spec.computation.threshold"
    )
    return _status(tdajob, Phase.failed.value, "Infeasible", message, now, completionTime=now)


def invalid_spec_status(tdajob: TDAJob, message: str, now: str) -> TDAJobStatus:
    """The spec passed the schema but this platform will not run it."""
    return _status(tdajob, Phase.failed.value, "InvalidInput", message, now, completionTime=now)


# ----------------------------------------------------------------------------- the status


def _index_errors(observed: Observed, indexes: set[int]) -> list[str]:
    """Why indexes failed: their records' errors, else what their last pod said (never a log)."""
    errors: list[str] = []
    pods_by_index: dict[int, PodState] = {}
    for pod in observed.pods:
        if pod.index is not None and pod.exit_code not in (None, 0):
            current = pods_by_index.get(pod.index)
            if current is None or pod.finished_at > current.finished_at:
                pods_by_index[pod.index] = pod
    for index in sorted(indexes)[:contract.OUTCOME_MAX_ERRORS]:
        outcome = observed.totals.outcomes.get(index)
        last_pod = pods_by_index.get(index)
        if outcome is not None and outcome.errors:
            errors.append(f"index {index}: {outcome.errors[0]}")
        elif last_pod is not None:
            said = last_pod.first_error or f"exit code {last_pod.exit_code}" + (
                f" ({last_pod.exit_reason})" if last_pod.exit_reason else "")
            errors.append(f"index {index}: {said}")
        else:
            errors.append(f"index {index}: failed; its pods are gone")
    return errors


def _failure_reason(job_failed: dict[str, Any], errors: list[str]) -> str:
    reason = _JOB_FAILURE_REASONS.get(str(job_failed.get("reason", "")))
    if reason and reason != "FailedIndexes":
        return reason
    for error in errors:
        head = error.split(": ", 2)[1] if error.count(": ") >= 2 else ""
        if head.isidentifier() and head[:1].isupper():
            return head
    return reason or "BackoffLimitExceeded"


def _recorded(observed: Observed, shards: int) -> set[int]:
    """Indexes of the Job with a record (a stray record beyond the shards does not count)."""
    return {i for i in observed.totals.outcomes if i < shards}


def _records_settled(observed: Observed, finished_at: str | None, now: str) -> bool:
    """Whether every finished index's record (or its pod's report) has arrived, or waiting is over."""
    shards = _shards(observed.job)
    status = (observed.job or {}).get("status") or {}
    recorded = _recorded(observed, shards)
    if len(recorded) >= shards:
        return True
    failed = parse_index_ranges(status.get("failedIndexes"))
    reported = {p.index for p in observed.pods if p.exit_code not in (None, 0)}
    completed = count_index_ranges(status.get("completedIndexes"))
    completed_unrecorded = completed - len(recorded - failed)
    failed_unreported = failed - recorded - reported
    if completed_unrecorded <= 0 and not failed_unreported:
        return True
    return seconds_since(finished_at, now) >= RECORD_GRACE_SECONDS


def compute_status(tdajob: TDAJob, observed: Observed, now: str) -> TDAJobStatus:
    """The TDAJob's status from its run's records and its Job."""
    job = observed.job
    shards = _shards(job)
    progress = progress_of(tdajob, observed)
    job_status = (job or {}).get("status") or {}
    common: dict[str, Any] = {
        "progress": progress,
        "summary": summary_of(observed.totals),
        "resultRef": result_ref(tdajob, shards),
        "jobName": contract.job_name(tdajob.metadata.name) if job else tdajob.status.jobName,
        "startTime": job_status.get("startTime") or tdajob.status.startTime,
    }
    complete = job_condition(job, "Complete")
    failed = job_condition(job, "Failed")
    finished = complete or failed
    if finished is not None:  # nothing runs any more, whatever stale pods say
        common["progress"] = progress = progress.model_copy(update={"running": 0})
    if finished is not None:
        when = job_status.get("completionTime") or finished.get("lastTransitionTime") or now
        if not _records_settled(observed, when, now):
            message = f"{progress.succeeded}/{progress.total} datasets done; collecting the last records"
            return _status(tdajob, Phase.running.value, "Finishing", message, now, **common)
        if complete is not None:
            message = f"{progress.succeeded} of {progress.total} datasets computed"
            missing = shards - len(_recorded(observed, shards))
            if missing > 0:
                message += f"; {missing} index records are missing"
            return _status(tdajob, Phase.succeeded.value, "Completed", message, now, completionTime=when, **common)
        if progress.total:  # the run is over: whatever did not succeed has failed
            failed_all = max(progress.failed, progress.total - progress.succeeded)
            text = f"{progress.succeeded}/{progress.total} ({failed_all} failed)"
            common["progress"] = progress = progress.model_copy(update={"failed": failed_all, "text": text})
        failed_indexes = parse_index_ranges(job_status.get("failedIndexes"))
        errors = _index_errors(observed, failed_indexes or {i for i, o in observed.totals.outcomes.items() if o.errors})
        reason = _failure_reason(failed or {}, errors)
        parts = [f"{progress.failed} of {progress.total} datasets failed"] if progress.failed else []
        message = "; ".join(parts + errors) or f"the Job failed ({reason})"
        return _status(tdajob, Phase.failed.value, reason, message, now, completionTime=when, **common)
    if job is None:
        return _status(tdajob, Phase.pending.value, "Creating", "creating the Job", now, **common)
    running = any(p.phase == "Running" for p in observed.pods)
    if job_condition(job, "Suspended") is not None or ((job.get("spec") or {}).get("suspend") and not running):
        why = "spec.suspend is true" if tdajob.spec.suspend else "the Job is suspended (held by its queue)"
        return _status(tdajob, Phase.suspended.value, "Suspended", why, now, **common)
    stuck = next((p.unschedulable for p in observed.pods if p.unschedulable), "")
    if stuck and not running and not observed.totals.outcomes:  # `active` counts pending pods too
        return _status(tdajob, Phase.pending.value, "Unschedulable", f"worker pods cannot be scheduled: {stuck}",
                       now, **common)
    # Not `active`: it counts pods still waiting for a node too.
    if running or observed.totals.outcomes or job_status.get("succeeded") or job_status.get("ready"):
        message = f"{progress.succeeded}/{progress.total} datasets done, {progress.running} in progress"
        return _status(tdajob, Phase.running.value, "Running", message, now, **common)
    if observed.creation_problem is not None:
        reason, message = observed.creation_problem
        return _status(tdajob, Phase.pending.value, reason, message, now, **common)
    return _status(tdajob, Phase.pending.value, "Scheduling", "waiting for pods to start", now, **common)


def is_finished(status: TDAJobStatus | dict[str, Any] | None) -> bool:
    phase = status.get("phase") if isinstance(status, dict) else (status.phase if status else None)
    return phase in TERMINAL_PHASES


def status_changed(old: BaseModel, new: BaseModel) -> bool:
    """Whether writing ``new`` would change anything (timestamps of unchanged conditions are kept)."""
    return old.model_dump(mode="json", exclude_none=True) != new.model_dump(mode="json", exclude_none=True)


def same_phase(old: TDAJobStatus, new: TDAJobStatus) -> bool:
    """Whether ``new`` only moves a TDAJob along within its phase (progress, the reason it
    waits, timestamps): such writes may be coalesced; a phase or generation change may not."""
    return old.phase is not None and old.phase == new.phase and not is_finished(new) and \
        old.observedGeneration == new.observedGeneration


def creation_problem(event: dict[str, Any], job_name: str) -> tuple[str, str] | None:
    """Why the Job controller cannot create pods, from one of its FailedCreate Events, in our own words.

    The Event's own text (quota figures, policy details) stays on the Job for those who may
    read it; the TDAJob names the kind of problem and where to look.
    """
    if event.get("reason") != "FailedCreate":
        return None
    text = str(event.get("message") or "")
    where = f"see `kubectl describe job {job_name}`"
    if "violates PodSecurity" in text:
        return "PodSecurityViolation", f"the namespace's Pod Security admission refuses the worker pods; {where}"
    if "exceeded quota" in text:
        return "QuotaExceeded", f"a ResourceQuota of the namespace refuses the worker pods; {where}"
    if "forbidden" in text:
        return "PodCreationForbidden", f"admission refuses the worker pods; {where}"
    return "PodCreationFailed", f"the Job controller cannot create the worker pods; {where}"
