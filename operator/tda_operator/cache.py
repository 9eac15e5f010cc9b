"""What the watches have seen, per TDAJob: the operator reads this, not the API server.

Filled by the event handlers (one watch per kind, server-side label selectors), so a
reconcile costs no reads and handling one event costs the same for 1 shard or 100,000:
a pod or record event touches one entry, and the run's totals are kept summed.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from tda_contract import ANNOTATION_OUTCOME, LABEL_ROLE, MANIFEST_HEAD_KEY, ROLE_MANIFEST, TDAJOB_KIND

from .models import TDAJOB_STAND_IN_SPEC, TDAJob, TDAJobStatus, read_stored
from .status import IndexOutcome, PodState, Totals, creation_problem

Key = tuple[str, str]  # (namespace, TDAJob name)


@dataclass
class Run:
    """Everything observed of one TDAJob and its children."""

    tdajob: TDAJob | None = None
    resource_version: str = ""
    inline_points: int = 0
    job: dict[str, Any] | None = None
    pods: dict[str, PodState] = field(default_factory=dict)
    #: Records by the TDAJob uid they belong to (a re-created TDAJob starts from nothing).
    totals: dict[str, Totals] = field(default_factory=dict)
    manifest_count: dict[str, int] = field(default_factory=dict)
    #: Where the stored TDAJob breaks the model (it is then held with a stand-in spec).
    unreadable: list[str] = field(default_factory=list)
    #: The Job controller's latest FailedCreate Event of the Job, in our own words.
    failed_create: FailedCreate | None = None


@dataclass(frozen=True)
class FailedCreate:
    job_uid: str
    when: str  # the Event's last occurrence (RFC 3339, so it orders as text)
    problem: tuple[str, str]  # (reason, message) for the TDAJob's status


def slim_job(job: dict[str, Any]) -> dict[str, Any]:
    """The parts of a Job the operator reads (not the pod template)."""
    meta = job.get("metadata") or {}
    spec = job.get("spec") or {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {k: meta.get(k) for k in ("name", "namespace", "uid", "labels", "annotations",
                                               "ownerReferences", "creationTimestamp", "deletionTimestamp")},
        "spec": {k: spec.get(k) for k in ("completions", "parallelism", "suspend", "activeDeadlineSeconds")},
        "status": job.get("status") or {},
    }


class Cache:
    def __init__(self) -> None:
        self._runs: dict[Key, Run] = {}
        self._lock = threading.Lock()

    def _run(self, key: Key) -> Run:
        run = self._runs.get(key)
        if run is None:
            run = self._runs[key] = Run()
        return run

    def _drop_if_empty(self, key: Key) -> None:
        run = self._runs.get(key)
        if run is not None and run.tdajob is None and run.job is None and not run.pods and not run.totals \
                and not run.manifest_count:
            del self._runs[key]

    # ------------------------------------------------------------------ updates

    def set_tdajob(self, key: Key, body: dict[str, Any] | None) -> None:
        """A TDAJob as watched; inline points are dropped once counted (they can be megabytes)."""
        with self._lock:
            if body is None:
                run = self._run(key)
                run.tdajob = None
                run.totals.clear()
                run.manifest_count.clear()
                self._drop_if_empty(key)
                return
            run = self._run(key)
            metadata = body.get("metadata") or {}
            version = str(metadata.get("resourceVersion") or "")
            if run.tdajob is not None and run.tdajob.metadata.uid == metadata.get("uid") and \
                    _older(version, run.resource_version):
                return  # the watch is behind our own status write (note_status): keep the newer
            tdajob, unreadable = read_stored(TDAJob, body, TDAJOB_STAND_IN_SPEC)
            run.unreadable = unreadable
            if tdajob.spec.input.inline is not None:
                run.inline_points = len(tdajob.spec.input.inline.points)
                tdajob.spec.input.inline.points = []
            run.tdajob = tdajob
            run.resource_version = version
            for uid in [u for u in run.totals if u != tdajob.metadata.uid]:
                del run.totals[uid]

    def set_job(self, key: Key, job: dict[str, Any] | None) -> None:
        with self._lock:
            self._run(key).job = slim_job(job) if job is not None else None
            self._drop_if_empty(key)

    def set_pod(self, key: Key, pod: dict[str, Any], deleted: bool) -> None:
        name = str((pod.get("metadata") or {}).get("name") or "")
        with self._lock:
            run = self._run(key)
            if deleted:
                run.pods.pop(name, None)
                self._drop_if_empty(key)
            else:
                run.pods[name] = PodState.of(pod)

    def note_failed_create(self, key: Key, event: dict[str, Any]) -> bool:
        """A FailedCreate Event of a known TDAJob's Job; True when it is the latest so far."""
        involved = event.get("involvedObject") or {}
        series = event.get("series") or {}
        when = str(series.get("lastObservedTime") or event.get("lastTimestamp") or event.get("eventTime") or "")
        problem = creation_problem(event, str(involved.get("name") or ""))
        with self._lock:
            run = self._runs.get(key)
            if run is None or run.tdajob is None or problem is None:
                return False
            latest = run.failed_create
            uid = str(involved.get("uid") or "")
            if latest is not None and latest.job_uid == uid and latest.when > when:
                return False
            run.failed_create = FailedCreate(uid, when, problem)
            return True

    def observe_record(self, key: Key, config_map: dict[str, Any], deleted: bool) -> bool:
        """A ConfigMap of a run as watched or listed; False when no TDAJob owns it."""
        metadata = config_map.get("metadata") or {}
        owners = [r.get("uid") for r in metadata.get("ownerReferences") or [] if r.get("kind") == TDAJOB_KIND]
        if not owners:
            return False
        role = (metadata.get("labels") or {}).get(LABEL_ROLE, "")
        self.set_record(key, str(owners[0]), role, config_map, deleted)
        return True

    def set_record(self, key: Key, owner_uid: str, role: str, config_map: dict[str, Any], deleted: bool) -> None:
        """A result ConfigMap's outcome record, or the manifest head's dataset count."""
        with self._lock:
            run = self._run(key)
            if role == ROLE_MANIFEST:
                count = _manifest_count(config_map, MANIFEST_HEAD_KEY)
                if deleted or count is None:
                    run.manifest_count.pop(owner_uid, None)
                else:
                    run.manifest_count[owner_uid] = count
            else:
                annotations = (config_map.get("metadata") or {}).get("annotations") or {}
                outcome = IndexOutcome.parse(annotations.get(ANNOTATION_OUTCOME))
                if outcome is not None and not deleted:
                    run.totals.setdefault(owner_uid, Totals()).add(outcome)
                elif outcome is not None and owner_uid in run.totals:
                    run.totals[owner_uid].remove(outcome.index)
                    if not run.totals[owner_uid].outcomes:
                        del run.totals[owner_uid]
            self._drop_if_empty(key)

    # ------------------------------------------------------------------ reads

    def get(self, key: Key) -> Run | None:
        """A consistent copy of what is known of one TDAJob."""
        with self._lock:
            run = self._runs.get(key)
            if run is None:
                return None
            uid = run.tdajob.metadata.uid if run.tdajob else ""
            totals = run.totals.get(uid) or Totals()
            copy = Totals(outcomes=dict(totals.outcomes), succeeded=totals.succeeded, failed=totals.failed,
                          interval_counts=list(totals.interval_counts),
                          max_persistence=list(totals.max_persistence),
                          compute_seconds=totals.compute_seconds, total=totals.total)
            return Run(run.tdajob, run.resource_version, run.inline_points, run.job, dict(run.pods),
                       {uid: copy}, dict(run.manifest_count), list(run.unreadable), run.failed_create)

    def note_status(self, key: Key, body: dict[str, Any]) -> None:
        """Our own status write's result: later reconciles start from it, not from an older view."""
        with self._lock:
            run = self._runs.get(key)
            new_version = str((body.get("metadata") or {}).get("resourceVersion") or "")
            if run is None or run.tdajob is None or not new_version:
                return
            if _newer(new_version, run.resource_version):
                # A new object, not an edit: snapshots handed out keep their status and version together.
                status = TDAJobStatus.model_validate(body.get("status") or {})
                run.tdajob = run.tdajob.model_copy(update={"status": status})
                run.resource_version = new_version

    def tdajob_keys(self) -> list[Key]:
        with self._lock:
            return [k for k, run in self._runs.items() if run.tdajob is not None]


def _newer(candidate: str, current: str) -> bool:
    """resourceVersions are opaque, but ours are etcd revisions: compare as numbers when they are."""
    if candidate.isdigit() and current.isdigit():
        return int(candidate) > int(current)
    return candidate != current


def _older(candidate: str, current: str) -> bool:
    """Only etcd revisions (numbers) can be said to be older; other versions never are."""
    return candidate.isdigit() and current.isdigit() and int(candidate) < int(current)


def _manifest_count(config_map: dict[str, Any], key: str) -> int | None:
    try:
        count = json.loads((config_map.get("data") or {}).get(key) or "")["count"]
    except (ValueError, KeyError, TypeError):
        return None
    return count if isinstance(count, int) and count >= 0 else None
