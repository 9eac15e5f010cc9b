"""Reconciliation steps shared by the handlers: read, call the pure builders, apply.

Everything that talks to the cluster goes through :mod:`tda_operator.kube`; everything
that decides goes through :mod:`tda_operator.builders` and :mod:`tda_operator.status`.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

import kopf
from kubernetes.client.exceptions import ApiException

from . import builders, contract, kube, metrics
from . import status as status_fn
from .models import API_VERSION, TDAJob, TDAJobStatus, to_k8s
from .settings import Settings

DATASETS_ANNOTATION = "tda.io/datasets"  # on the Job: dataset count (absent when pods list them)
log = logging.getLogger("tda_operator")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _estimate_rips() -> Any:
    try:
        from tda_core import estimate_rips
    except ImportError:  # core without the estimator: no sizing, no feasibility check
        return None
    return estimate_rips


@dataclass
class Plan:
    """What the children of a TDAJob are made from."""

    datasets: list[dict[str, Any]]
    shards: int
    estimate: dict[str, Any] | None
    config_map_exists: bool
    #: None when the pods list the datasets themselves (file:// prefixes).
    n_datasets: int | None

    @property
    def estimated_bytes(self) -> int | None:
        return int(self.estimate["bytes"]) if self.estimate and "bytes" in self.estimate else None


class Unrunnable(Exception):
    """The spec is valid but cannot run; carries the final status to publish."""

    def __init__(self, status: TDAJobStatus) -> None:
        super().__init__(status.message)
        self.status = status


def plan_children(tdajob: TDAJob, settings: Settings) -> Plan:
    """Datasets and shards: those recorded in the spec ConfigMap if it exists (so the
    index layout never changes under running pods), else resolved now."""
    ns, name = tdajob.metadata.namespace, tdajob.metadata.name
    estimate = builders.estimate_input_bytes(tdajob, _estimate_rips())
    if estimate is not None and int(estimate.get("bytes", 0)) > settings.infeasible_cap_bytes:
        raise Unrunnable(status_fn.infeasible_status(tdajob, estimate, settings.infeasible_cap_bytes, now()))
    existing = kube.get("v1", "ConfigMap", ns, contract.spec_config_map_name(name))
    owners = [ref.get("uid") for ref in ((existing or {}).get("metadata") or {}).get("ownerReferences") or []]
    if existing is not None and tdajob.metadata.uid in owners:
        datasets, shards = builders.datasets_from_config_map(existing)
        return Plan(datasets, shards, estimate, True, _count(tdajob, datasets))
    listed: list[str] = []
    if builders.needs_listing_by_operator(tdajob):
        source = tdajob.spec.input
        assert source.datasets is not None
        try:
            credentials = kube.secret_data(ns, source.credentialsSecret) if source.credentialsSecret else {}
        except LookupError as missing:  # the Secret may well be created next: retry, say why
            raise kopf.TemporaryError(str(missing), delay=15) from missing
        try:
            listed = kube.list_object_keys(source.datasets.urlPrefix, source.datasets.pattern, credentials)
        except Exception as error:  # noqa: BLE001 - reported on the TDAJob, retried by kopf
            if _is_permanent_listing_error(error):
                raise Unrunnable(
                    status_fn.invalid_spec_status(tdajob, f"spec.input.datasets.urlPrefix: {error}", now())
                ) from error
            raise kopf.TemporaryError(f"listing {source.datasets.urlPrefix} failed: {error}", delay=15) from error
    datasets = builders.datasets_for(tdajob, listed)
    if builders.needs_listing_by_operator(tdajob) and not datasets:
        message = (
            f"spec.input.datasets: no object under {tdajob.spec.input.datasets.urlPrefix} "  # type: ignore[union-attr]
            f"matches pattern {tdajob.spec.input.datasets.pattern!r}"  # type: ignore[union-attr]
        )
        raise Unrunnable(status_fn.invalid_spec_status(tdajob, message, now()))
    shards = builders.shard_count(tdajob, len(datasets), settings)
    return Plan(datasets, shards, estimate, False, _count(tdajob, datasets))


def _count(tdajob: TDAJob, datasets: list[dict[str, Any]]) -> int | None:
    pod_listed = tdajob.spec.input.datasets is not None and not builders.needs_listing_by_operator(tdajob)
    return None if pod_listed else len(datasets)


def _is_permanent_listing_error(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code") if hasattr(error, "response") else None
    return code in {"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"} or isinstance(
        error, ValueError
    )


def desired_job(tdajob: TDAJob, settings: Settings, plan: Plan) -> dict[str, Any]:
    job = builders.build_job(tdajob, settings, plan.shards, plan.estimated_bytes)
    if plan.n_datasets is not None:
        job["metadata"]["annotations"] = {DATASETS_ANNOTATION: str(plan.n_datasets)}
    return job


_WORKER_IDENTITY_APPLIED: set[str] = set()


def ensure_worker_identity(namespace: str, settings: Settings) -> None:
    """The worker ServiceAccount and its Role in this namespace (once per operator process)."""
    if namespace in _WORKER_IDENTITY_APPLIED:
        return
    for obj in builders.build_worker_rbac(namespace, settings):
        kube.apply(obj)
    _WORKER_IDENTITY_APPLIED.add(namespace)


def ensure_children(tdajob: TDAJob, settings: Settings) -> dict[str, Any] | None:
    """Apply the spec ConfigMap (once) and the Job; returns the live Job."""
    plan = plan_children(tdajob, settings)
    ensure_worker_identity(tdajob.metadata.namespace, settings)
    if not plan.config_map_exists:
        try:
            config_map = builders.build_spec_config_map(tdajob, plan.datasets, plan.shards)
        except builders.SpecTooLarge as too_large:
            raise Unrunnable(status_fn.invalid_spec_status(tdajob, str(too_large), now())) from too_large
        kube.apply(config_map)
    try:
        return kube.apply(desired_job(tdajob, settings, plan))
    except ApiException as error:
        if error.status == 422 and "field is immutable" in str(error.body):
            # The pod template changed (e.g. a new worker image in the operator's settings):
            # running Jobs keep theirs; new TDAJobs get the new one.
            log.warning("Job %s/%s keeps its immutable template: %s", tdajob.metadata.namespace,
                        tdajob.metadata.name, error.body)
            return kube.get("batch/v1", "Job", tdajob.metadata.namespace, tdajob.metadata.name)
        raise


def correct_drift(tdajob: TDAJob, live_job: dict[str, Any], settings: Settings) -> list[str]:
    """Re-apply the Job when someone edited the fields the operator owns."""
    annotations = (live_job.get("metadata") or {}).get("annotations") or {}
    n_datasets = int(annotations[DATASETS_ANNOTATION]) if DATASETS_ANNOTATION in annotations else None
    shards = int((live_job.get("spec") or {}).get("completions") or 1)
    estimate = builders.estimate_input_bytes(tdajob, _estimate_rips())
    plan = Plan([], shards, estimate, True, n_datasets)
    desired = desired_job(tdajob, settings, plan)
    drifted = builders.job_drift(desired, live_job)
    if drifted:
        kube.apply(desired)
    return drifted


def publish(tdajob: TDAJob, body: dict[str, Any] | None, new: TDAJobStatus) -> TDAJobStatus:
    """Write the status when it changed; post an Event and count metrics on a phase change."""
    old = tdajob.status
    if status_fn.status_changed(old, new):
        kube.apply_status({"name": tdajob.metadata.name, "namespace": tdajob.metadata.namespace}, to_k8s(new))
    metrics.PHASES.set(tdajob.metadata.namespace, tdajob.metadata.name, new.phase)
    if new.phase != old.phase or new.reason != old.reason:
        ref = body or {
            "apiVersion": API_VERSION,
            "kind": "TDAJob",
            "metadata": {"name": tdajob.metadata.name, "namespace": tdajob.metadata.namespace,
                         "uid": tdajob.metadata.uid},
        }
        failed = new.phase == "Failed"
        kopf.event(cast(kopf.Body, ref), type="Warning" if failed else "Normal", reason=new.reason or str(new.phase),
                   message=new.message or str(new.phase))
        if status_fn.is_finished(new) and not status_fn.is_finished(old):
            progress = new.progress
            if progress is not None:
                metrics.DATASETS_PROCESSED.labels(result="succeeded").inc(progress.succeeded)
                metrics.DATASETS_PROCESSED.labels(result="failed").inc(progress.failed)
            if new.summary is not None:
                metrics.COMPUTE_SECONDS.inc(new.summary.computeSeconds)
    return new


def observed_status(tdajob: TDAJob, job: dict[str, Any] | None) -> TDAJobStatus:
    """Status from the live Job (None: not there) and its pods."""
    pods = kube.job_pods(tdajob.metadata.namespace, job["metadata"]["uid"]) if job else []
    annotations = ((job or {}).get("metadata") or {}).get("annotations") or {}
    n_datasets = int(annotations[DATASETS_ANNOTATION]) if DATASETS_ANNOTATION in annotations else None
    shards = int(((job or {}).get("spec") or {}).get("completions") or 1)
    if job is None:
        n_datasets = tdajob.status.progress.total if tdajob.status.progress else None
    return status_fn.compute_status(tdajob, job, pods, n_datasets, shards, now())


def fetch_tdajob(namespace: str, name: str) -> tuple[TDAJob, dict[str, Any]] | None:
    body = kube.get(API_VERSION, "TDAJob", namespace, name)
    if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
        return None
    return TDAJob.model_validate(body), body


class DeferredDeletions:
    """Deletes finished Jobs after the TDAJob's ttlSecondsAfterFinished, from one thread.

    Deleting here rather than via the Job's own TTL means the pods (and their
    termination messages) outlive the moment the final status is recorded.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, str, str, str]] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def schedule(self, at: float, namespace: str, name: str, uid: str) -> None:
        with self._wake:
            heapq.heappush(self._heap, (at, namespace, name, uid))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ttl-deleter", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.time():
                    self._wake.wait(timeout=(self._heap[0][0] - time.time()) if self._heap else None)
                _, namespace, name, uid = heapq.heappop(self._heap)
            try:
                kube.delete_job(namespace, name, uid)
            except Exception:  # noqa: BLE001 - the next event reschedules it
                log.exception("deleting finished Job %s/%s failed", namespace, name)


DELETIONS = DeferredDeletions()


def schedule_cleanup(tdajob: TDAJob, status: TDAJobStatus, job: dict[str, Any]) -> None:
    ttl = tdajob.spec.ttlSecondsAfterFinished
    if ttl is None or not status_fn.is_finished(status) or not status.completionTime:
        return
    finished = dt.datetime.fromisoformat(status.completionTime.replace("Z", "+00:00")).timestamp()
    DELETIONS.schedule(finished + ttl, tdajob.metadata.namespace, job["metadata"]["name"], job["metadata"]["uid"])
