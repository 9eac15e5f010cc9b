"""TDAJob status as a pure function of its children's observed state.

Inputs are plain dicts as the API server returns them (the Job, its pods) plus what
the operator recorded (dataset count, shard count). Nothing here is incremental, so
recomputing after a restart or a missed event gives the same answer: no double counting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import contract
from .models import TERMINAL_PHASES, Condition, Phase, Progress, ResultRef, Summary, TDAJob, TDAJobStatus

COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
MAX_MESSAGE_LENGTH = 1024

# Job `Failed` condition reasons -> TDAJob reasons.
_JOB_FAILURE_REASONS = {
    "DeadlineExceeded": "DeadlineExceeded",
    "BackoffLimitExceeded": "BackoffLimitExceeded",
    "PodFailurePolicy": "InvalidInput",
}


@dataclass(frozen=True)
class WorkerReport:
    """One pod's summary (its termination message) and how it ended."""

    index: int
    exit_code: int | None
    finished_at: str
    datasets: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    interval_counts: list[int] = field(default_factory=list)
    max_persistence: list[float] = field(default_factory=list)
    compute_seconds: float = 0.0
    result: str | None = None
    error: str | None = None


def parse_termination_message(text: str | None) -> dict[str, Any] | None:
    """The worker's JSON summary, or None for anything else (e.g. a log tail after a crash)."""
    if not text:
        return None
    try:
        parsed = json.loads(text.strip())
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("v") != contract.TERMINATION_MESSAGE_VERSION:
        return None
    return parsed


def _terminated_state(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated:
            return dict(terminated)
    return None


def pod_index(pod: dict[str, Any]) -> int | None:
    meta = pod.get("metadata") or {}
    raw = (meta.get("annotations") or {}).get(COMPLETION_INDEX_ANNOTATION)
    if raw is None:
        raw = (meta.get("labels") or {}).get(COMPLETION_INDEX_ANNOTATION)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def worker_report(pod: dict[str, Any]) -> WorkerReport | None:
    """The report of a terminated pod, None while it runs."""
    index = pod_index(pod)
    terminated = _terminated_state(pod)
    if index is None or terminated is None:
        return None
    report = WorkerReport(
        index=index, exit_code=terminated.get("exitCode"), finished_at=str(terminated.get("finishedAt") or "")
    )
    summary = parse_termination_message(terminated.get("message"))
    if summary is None:
        message = (terminated.get("message") or "").strip()
        error = f"exit code {report.exit_code}" + (f": {message[-300:]}" if message else "")
        return WorkerReport(report.index, report.exit_code, report.finished_at, error=error)
    return WorkerReport(
        index=index,
        exit_code=report.exit_code,
        finished_at=report.finished_at,
        datasets=_int_or_none(summary.get("datasets")),
        succeeded=_int_or_none(summary.get("succeeded")),
        failed=_int_or_none(summary.get("failed")),
        interval_counts=[int(c) for c in summary.get("intervalCounts") or []],
        max_persistence=[float(p) for p in summary.get("maxPersistence") or []],
        compute_seconds=float(summary.get("computeSeconds") or 0.0),
        result=summary.get("result"),
        error=summary.get("error") or None,
    )


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def final_reports(pods: list[dict[str, Any]]) -> dict[int, WorkerReport]:
    """Per index, the report that counts: a successful pod's, else the latest failure's.

    Retried indexes have several terminated pods; counting only one per index is what
    keeps the totals right.
    """
    chosen: dict[int, WorkerReport] = {}
    for pod in pods:
        report = worker_report(pod)
        if report is None:
            continue
        current = chosen.get(report.index)
        if current is None or _better(report, current):
            chosen[report.index] = report
    return chosen


def _better(candidate: WorkerReport, current: WorkerReport) -> bool:
    if (candidate.exit_code == 0) != (current.exit_code == 0):
        return candidate.exit_code == 0
    return candidate.finished_at > current.finished_at


def running_indexes(pods: list[dict[str, Any]]) -> set[int]:
    running = set()
    for pod in pods:
        index = pod_index(pod)
        phase = (pod.get("status") or {}).get("phase")
        deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
        if index is not None and phase in ("Pending", "Running") and not deleting:
            running.add(index)
    return running


def parse_index_ranges(text: str | None) -> set[int]:
    """Job ``completedIndexes``/``failedIndexes`` syntax, e.g. ``"1,3-5"``."""
    indexes: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        indexes.update(range(int(low), int(high or low) + 1))
    return indexes


def datasets_in_index(n_datasets: int | None, shards: int, index: int) -> int:
    if n_datasets is None:
        return 0
    return len(contract.datasets_of_index(n_datasets, shards, index))


def job_condition(job: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for condition in ((job or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def progress_of(
    job: dict[str, Any] | None,
    reports: dict[int, WorkerReport],
    running: set[int],
    n_datasets: int | None,
    shards: int,
) -> Progress:
    """Dataset counts: finished indexes count by their worker's report, else by size."""
    status = (job or {}).get("status") or {}
    completed = parse_index_ranges(status.get("completedIndexes"))
    failed_indexes = parse_index_ranges(status.get("failedIndexes"))
    succeeded = failed = 0
    for index in completed:
        report = reports.get(index)
        size = datasets_in_index(n_datasets, shards, index)
        succeeded += report.succeeded if report and report.succeeded is not None else size
        failed += report.failed if report and report.failed is not None else 0
    for index in failed_indexes:
        report = reports.get(index)
        size = datasets_in_index(n_datasets, shards, index)
        if report is not None and report.failed is not None:
            succeeded += report.succeeded or 0
            failed += report.failed
        else:
            failed += size
    active = running - completed - failed_indexes
    in_flight = sum(datasets_in_index(n_datasets, shards, i) for i in active)
    total = n_datasets
    if total is None:  # pod-listed datasets: the pods tell how many they found
        total = sum(r.datasets or 0 for r in reports.values())
        in_flight = len(active)
    return Progress(
        total=total,
        succeeded=succeeded,
        failed=failed,
        running=in_flight,
        text=f"{succeeded}/{total}" + (f" ({failed} failed)" if failed else ""),
    )


def summary_of(reports: dict[int, WorkerReport]) -> Summary:
    """Interval counts summed and maximal persistence maximised over datasets, per dimension."""
    counts: list[int] = []
    persistence: list[float] = []
    seconds = 0.0
    for report in sorted(reports.values(), key=lambda r: r.index):
        for dim, count in enumerate(report.interval_counts):
            if dim >= len(counts):
                counts.append(0)
            counts[dim] += count
        for dim, value in enumerate(report.max_persistence):
            if dim >= len(persistence):
                persistence.append(value)
            else:
                persistence[dim] = max(persistence[dim], value)
        seconds += report.compute_seconds
    return Summary(intervalCounts=counts, maxPersistence=persistence, computeSeconds=round(seconds, 6))


def failure_reason(job_failed: dict[str, Any], failed_reports: list[WorkerReport]) -> str:
    """TDAJob reason for a failed Job: the Job's own reason, or what the workers said."""
    reason = _JOB_FAILURE_REASONS.get(job_failed.get("reason", ""))
    if reason:
        return reason
    for report in failed_reports:
        if report.exit_code == contract.EXIT_INVALID_INPUT:
            return "InvalidInput"
    for report in failed_reports:
        if report.error and ":" in report.error and report.error.split(":", 1)[0].isidentifier():
            return report.error.split(":", 1)[0]
    return "BackoffLimitExceeded"


def _failure_message(progress: Progress, failed_reports: list[WorkerReport], job_failed: dict[str, Any]) -> str:
    parts = [f"{progress.failed} of {progress.total} datasets failed"] if progress.failed else []
    if job_failed.get("message"):
        parts.append(str(job_failed["message"]))
    for report in failed_reports[:3]:
        if report.error:
            parts.append(f"index {report.index}: {report.error}")
    return "; ".join(parts)[:MAX_MESSAGE_LENGTH]


def result_ref(tdajob: TDAJob, shards: int) -> ResultRef:
    if tdajob.spec.output.url:
        return ResultRef(kind="ObjectStore", url=tdajob.spec.output.url, shards=shards)
    return ResultRef(kind="ConfigMap", namePrefix=f"{tdajob.metadata.name}-result-", shards=shards)


def conditions_for(
    phase: str,
    reason: str,
    message: str,
    generation: int,
    previous: list[Condition],
    now: str,
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


def _finish(
    tdajob: TDAJob, phase: str, reason: str, message: str, now: str, **fields: Any
) -> TDAJobStatus:
    return TDAJobStatus(
        phase=phase,  # type: ignore[arg-type]
        reason=reason or None,
        message=message or None,
        conditions=conditions_for(
            phase, reason, message, tdajob.metadata.generation, tdajob.status.conditions, now
        ),
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
    return _finish(tdajob, Phase.failed.value, "Infeasible", message, now, completionTime=now)


def invalid_spec_status(tdajob: TDAJob, message: str, now: str) -> TDAJobStatus:
    """The spec passed the schema but cannot be run (e.g. no dataset under the prefix)."""
    return _finish(tdajob, Phase.failed.value, "InvalidInput", message[:MAX_MESSAGE_LENGTH], now, completionTime=now)


def compute_status(
    tdajob: TDAJob,
    job: dict[str, Any] | None,
    pods: list[dict[str, Any]],
    n_datasets: int | None,
    shards: int,
    now: str,
) -> TDAJobStatus:
    """The TDAJob's status from its Job and the Job's pods."""
    reports = final_reports(pods)
    running = running_indexes(pods)
    progress = progress_of(job, reports, running, n_datasets, shards)
    common: dict[str, Any] = {
        "progress": progress,
        "summary": summary_of(reports),
        "resultRef": result_ref(tdajob, shards),
        "jobName": contract.job_name(tdajob.metadata.name) if job else None,
    }
    job_status = (job or {}).get("status") or {}
    common["startTime"] = job_status.get("startTime") or tdajob.status.startTime
    complete = job_condition(job, "Complete")
    failed = job_condition(job, "Failed")
    if complete is not None:
        when = job_status.get("completionTime") or complete.get("lastTransitionTime") or now
        message = f"{progress.succeeded} of {progress.total} datasets computed"
        return _finish(tdajob, Phase.succeeded.value, "Completed", message, now, completionTime=when, **common)
    if failed is not None:
        failed_reports = [
            r for i, r in sorted(reports.items()) if i in parse_index_ranges(job_status.get("failedIndexes"))
        ] or [r for r in reports.values() if r.exit_code not in (0, None)]
        reason = failure_reason(failed, failed_reports)
        when = failed.get("lastTransitionTime") or now
        message = _failure_message(progress, failed_reports, failed)
        return _finish(tdajob, Phase.failed.value, reason, message, now, completionTime=when, **common)
    if job is None:
        return _finish(tdajob, Phase.pending.value, "Creating", "creating the Job", now, **common)
    if job_condition(job, "Suspended") is not None or ((job.get("spec") or {}).get("suspend") and not running):
        return _finish(tdajob, Phase.suspended.value, "Suspended", "spec.suspend is true", now, **common)
    if running or progress.succeeded or progress.failed or job_status.get("active"):
        message = f"{progress.succeeded}/{progress.total} datasets done, {progress.running} in progress"
        return _finish(tdajob, Phase.running.value, "Running", message, now, **common)
    return _finish(tdajob, Phase.pending.value, "Scheduling", "waiting for pods to start", now, **common)


def is_finished(status: TDAJobStatus | dict[str, Any] | None) -> bool:
    phase = status.get("phase") if isinstance(status, dict) else (status.phase if status else None)
    return phase in TERMINAL_PHASES


def status_changed(old: TDAJobStatus, new: TDAJobStatus) -> bool:
    """Whether writing ``new`` would change anything (timestamps of unchanged conditions are kept)."""
    return old.model_dump(mode="json", exclude_none=True) != new.model_dump(mode="json", exclude_none=True)
