"""One reconcile per TDAJob: observe (the cache), decide (pure builders and status), apply.

Triggered by the TDAJob, its Job, its pods and its records (through the work queue) and
by a periodic resync; every failure is retried with backoff by the queue. The status is
written only over the version it was computed from, and never once it is final.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
import uuid
from collections.abc import Hashable
from typing import Any

import tda_contract as contract
from kubernetes.client.exceptions import ApiException

from . import builders, kube, metrics
from . import status as status_fn
from .cache import Cache, FailedCreate, Key, Run, slim_job
from .models import TDAJob, TDAJobStatus, to_k8s, unreadable_message
from .settings import FIELD_MANAGER, Settings
from .workqueue import WorkQueue

log = logging.getLogger("tda_operator")

#: Until the watches have surely listed everything, a Job missing from the cache is asked
#: for before one is written (afterwards the cache is the truth: it saw every Job).
STARTUP_SECONDS = 60.0
FINISHING_RECHECK_SECONDS = 2.0
#: Status writes that stay within a phase (progress, timestamps, the reason a TDAJob waits)
#: are at least this far apart per TDAJob: a burst of pod and record events becomes one write.
#: Phase changes (a finished run above all) are written at once.
COALESCE_SECONDS = 5.0
#: Events waiting to be posted before new ones are dropped, and the threads posting them.
EVENT_BACKLOG = 2_000
EVENT_POSTERS = 4


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _estimate_rips() -> Any:
    try:
        from tda_core import estimate_rips
    except ImportError:  # core without the estimator: no sizing, no feasibility check
        return None
    return estimate_rips


class Reconciler:
    def __init__(self, cache: Cache, settings: Settings, workers: int = 4) -> None:
        self.cache = cache
        self.settings = settings
        self.queue = WorkQueue(self.reconcile, workers=workers)
        self.events = EventPoster()
        self._identities: set[str] = set()
        self._identity_lock = threading.Lock()
        self._estimate = _estimate_rips()
        self._started = time.monotonic()
        self._written: dict[Key, float] = {}  # the last status write per unfinished TDAJob (monotonic)

    def start(self) -> None:
        self.queue.start()
        self.events.start()
        threading.Thread(target=self._resync, name="resync", daemon=True).start()

    def _resync(self) -> None:
        """Level-triggered even without events: every TDAJob is looked at again periodically, and
        what an unfinished one depends on is read afresh, so a watch event lost (e.g. across a
        restart) delays a TDAJob by one period at most instead of forever."""
        while True:
            time.sleep(self.settings.resync_seconds)
            for key in self.cache.tdajob_keys():
                run = self.cache.get(key)
                if run is not None and run.tdajob is not None and not status_fn.is_finished(run.tdajob.status):
                    try:
                        self._refresh(key, run.tdajob)
                    except (ApiException, OSError) as error:  # the reconcile retries; so does the next round
                        log.warning("refreshing %s/%s failed (%s)", key[0], key[1], type(error).__name__)
                self.queue.add(key)

    def _refresh(self, key: Key, tdajob: TDAJob) -> None:
        """The TDAJob, its Job and its run's ConfigMaps as the API server has them now."""
        namespace, name = key
        self.cache.set_tdajob(key, kube.get(contract.API_VERSION, contract.TDAJOB_KIND, namespace, name))
        job = kube.get("batch/v1", "Job", namespace, contract.job_name(name))
        if job is not None:
            self.cache.set_job(key, job)
        for config_map in kube.list_config_maps(namespace, f"{contract.LABEL_TDAJOB}={name}"):
            self.cache.observe_record(key, config_map, deleted=False)

    # ------------------------------------------------------------------ the reconcile

    def reconcile(self, key: Hashable) -> float | None:
        """Returns seconds until the TDAJob wants another look, or None."""
        assert isinstance(key, tuple)
        with metrics.reconciliation("TDAJob") as outcome:
            run = self.cache.get(key)
            if run is None or run.tdajob is None:
                metrics.PHASES.set(key[0], key[1], None)
                self._written.pop(key, None)
                return None
            tdajob = run.tdajob
            if status_fn.is_finished(tdajob.status):  # the record is final
                metrics.PHASES.set(key[0], key[1], tdajob.status.phase)
                self._written.pop(key, None)
                return None
            if run.unreadable:
                outcome["result"] = "unreadable"
                self.publish(key, run, status_fn.invalid_spec_status(tdajob, unreadable_message(run.unreadable), now()))
                return None
            estimate = builders.estimate_input_bytes(tdajob, run.inline_points, self._estimate)
            refusal = self._refusal(tdajob, estimate)
            if refusal is not None:
                outcome["result"] = str(refusal.reason).lower()
                self.publish(key, run, refusal)
                return None
            try:
                self._ensure_worker_identity(tdajob.metadata.namespace)
                job = self._ensure_job(key, tdajob, run, int(estimate["bytes"]) if estimate else None)
            except ApiException as error:
                if not kube.namespace_terminating(error):
                    raise
                # The namespace and this TDAJob are going: retrying would only load the API server.
                outcome["result"] = "namespace_terminating"
                return None
            if job is None:  # an earlier TDAJob's Job of this name is still being deleted
                return FINISHING_RECHECK_SECONDS
            pods = tuple(p for p in run.pods.values() if p.job_uid == job["metadata"]["uid"])
            problem = _creation_problem(job, pods, run.failed_create)
            uid = tdajob.metadata.uid
            observed = status_fn.Observed(job, run.totals.get(uid) or status_fn.Totals(), pods,
                                          run.manifest_count.get(uid), problem)
            new = status_fn.compute_status(tdajob, observed, now())
            hold = self._hold(key, tdajob.status, new)
            if hold > 0:
                return hold
            if not self.publish(key, run, new):
                return FINISHING_RECHECK_SECONDS
            return FINISHING_RECHECK_SECONDS if new.reason == "Finishing" else None

    def _refusal(self, tdajob: TDAJob, estimate: dict[str, Any] | None) -> TDAJobStatus | None:
        """A final status for a spec this platform will not run, or None."""
        refusal = builders.http_refusal(tdajob, self.settings)
        if refusal is not None:
            return status_fn.invalid_spec_status(tdajob, refusal, now())
        if estimate is not None and int(estimate.get("bytes", 0)) > self.settings.infeasible_cap_bytes:
            return status_fn.infeasible_status(tdajob, estimate, self.settings.infeasible_cap_bytes, now())
        return None

    def _ensure_worker_identity(self, namespace: str) -> None:
        """The worker ServiceAccount and its Role in this namespace (once per operator process)."""
        with self._identity_lock:  # once, even with many TDAJobs of a new namespace at once
            if namespace in self._identities:
                return
            for obj in builders.build_worker_rbac(namespace, self.settings):
                kube.apply(obj)
            self._identities.add(namespace)

    def _ensure_job(self, key: Key, tdajob: TDAJob, run: Run, estimated_bytes: int | None) -> dict[str, Any] | None:
        """The live Job of this TDAJob: created when missing, restored when edited."""
        desired = builders.build_job(tdajob, self.settings, estimated_bytes)
        job = run.job
        if job is None and time.monotonic() - self._started < STARTUP_SECONDS:  # maybe not listed yet
            job = kube.get("batch/v1", "Job", tdajob.metadata.namespace, desired["metadata"]["name"])
        if job is not None and not _owned_by(job, tdajob.metadata.uid):
            return None
        if job is None or builders.job_drift(desired, job):
            try:
                job = kube.apply(desired)
            except ApiException as error:
                if error.status != 422:
                    raise
                # An immutable field differs (e.g. a new worker image in the operator's settings):
                # the running Job keeps its template; new TDAJobs get the new one.
                job = job or kube.get("batch/v1", "Job", tdajob.metadata.namespace, desired["metadata"]["name"])
                if job is None:
                    raise
        self.cache.set_job(key, job)
        return slim_job(job)

    # ------------------------------------------------------------------ the write

    def _hold(self, key: Key, old: TDAJobStatus, new: TDAJobStatus) -> float:
        """Seconds to wait before writing ``new`` (0: write now). The status comparison, the
        costly part, is made only inside the coalescing window."""
        last = self._written.get(key)
        if last is None or not status_fn.same_phase(old, new):
            return 0.0
        wait = last + COALESCE_SECONDS - time.monotonic()
        return wait if wait > 0 and status_fn.status_changed(old, new) else 0.0

    def publish(self, key: Key, run: Run, new: TDAJobStatus) -> bool:
        """Write the status when it changed, over the version it came from; False when that is stale."""
        assert run.tdajob is not None
        tdajob, old = run.tdajob, run.tdajob.status
        metrics.PHASES.set(key[0], key[1], new.phase)
        if not status_fn.status_changed(old, new):
            return True
        try:
            written = kube.apply_status(key[0], key[1], run.resource_version, to_k8s(new))
        except ApiException as error:
            if error.status in (404, 409):  # gone, or someone wrote after our view: look again
                return False
            raise
        self.cache.note_status(key, written)
        if status_fn.is_finished(new):
            self._written.pop(key, None)
        else:
            self._written[key] = time.monotonic()
        if new.phase != old.phase or (new.reason != old.reason and new.phase == "Pending"):
            self._post_event(tdajob, new)
        if status_fn.is_finished(new) and new.progress is not None:
            metrics.DATASETS_PROCESSED.labels(result="succeeded").inc(new.progress.succeeded)
            metrics.DATASETS_PROCESSED.labels(result="failed").inc(new.progress.failed)
            if new.summary is not None:
                metrics.COMPUTE_SECONDS.inc(new.summary.computeSeconds)
        return True

    def _post_event(self, tdajob: TDAJob, new: TDAJobStatus) -> None:
        warning = new.phase == "Failed" or (new.phase == "Pending" and new.reason not in ("Creating", "Scheduling"))
        if new.phase == "Pending" and not warning:
            return  # the ordinary start needs no Event
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{tdajob.metadata.name}.{uuid.uuid4().hex[:12]}",
                         "namespace": tdajob.metadata.namespace},
            "involvedObject": {"apiVersion": contract.API_VERSION, "kind": contract.TDAJOB_KIND,
                               "name": tdajob.metadata.name, "namespace": tdajob.metadata.namespace,
                               "uid": tdajob.metadata.uid},
            "type": "Warning" if warning else "Normal",
            "reason": new.reason or str(new.phase),
            "message": new.message or str(new.phase),
            "source": {"component": FIELD_MANAGER},
            "firstTimestamp": now(),
            "lastTimestamp": now(),
            "count": 1,
        }
        self.events.post(event)


class EventPoster:
    """Events are posted by threads of their own, so a reconcile never waits for one (on a
    busy API server each takes a reconcile thread for hundreds of ms). An Event is a courtesy --
    the status is the record -- so when too many wait, new ones are dropped and counted."""

    def __init__(self, backlog: int = EVENT_BACKLOG) -> None:
        self._waiting: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=backlog)

    def start(self, threads: int = EVENT_POSTERS) -> None:
        for number in range(threads):
            threading.Thread(target=self._run, name=f"events-{number}", daemon=True).start()

    def post(self, event: dict[str, Any]) -> None:
        try:
            self._waiting.put_nowait(event)
        except queue.Full:
            metrics.EVENTS_DROPPED.inc()

    def _run(self) -> None:
        while True:
            event = self._waiting.get()
            try:
                kube.create_event(event)
            except Exception as error:  # noqa: BLE001 - an Event is a courtesy; the status is the record
                involved = event["involvedObject"]
                log.warning("posting an Event for %s/%s failed (%s)", involved["namespace"], involved["name"],
                            type(error).__name__)


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def _creation_problem(job: dict[str, Any], pods: tuple[status_fn.PodState, ...],
                      failed_create: FailedCreate | None) -> tuple[str, str] | None:
    """Why the Job has no pods, from the Job controller's latest FailedCreate Event of it (watched)."""
    status = job.get("status") or {}
    if failed_create is None or failed_create.job_uid != job["metadata"]["uid"] or pods or \
            status.get("active") or status.get("succeeded") or status.get("failed") or \
            status_fn.job_condition(job, "Complete") or status_fn.job_condition(job, "Failed") or \
            (job.get("spec") or {}).get("suspend"):
        return None
    return failed_create.problem
