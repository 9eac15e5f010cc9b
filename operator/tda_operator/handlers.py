"""kopf handlers: parse, call the builders and status functions, apply. Nothing else."""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from . import contract, metrics, reconcile
from . import status as status_fn
from .models import GROUP, VERSION, TDAJob
from .settings import FIELD_MANAGER, Settings

SETTINGS = Settings.from_env()
CHILD_JOB_LABELS: dict[str, Any] = {"app.kubernetes.io/managed-by": FIELD_MANAGER, contract.LABEL_TDAJOB: kopf.PRESENT}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # spec.input and spec.computation are immutable (CEL), so they need no diff base; leaving
    # them out keeps the last-handled annotation small even for 5000-point inline inputs.
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration", ignored_fields=["spec.input", "spec.computation"]
    )
    # Handler progress in annotations (transient), so `status` is written by us alone.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # Long watches end server-side before the client gives up; a dead connection is noticed.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 15
    # Events come from explicit phase transitions, not from every handler log line.
    settings.posting.level = logging.WARNING
    workers = int(os.environ.get("TDA_OPERATOR_WORKERS", "16"))
    settings.execution.max_workers = workers
    # Per-object tasks beyond what the handler threads can serve only hold memory.
    settings.batching.worker_limit = 4 * workers
    settings.peering.standalone = os.environ.get("TDA_OPERATOR_PEERING", "") == ""
    settings.peering.name = os.environ.get("TDA_OPERATOR_PEERING", "tda-operator")
    settings.peering.clusterwide = True


@kopf.on.resume(GROUP, VERSION, "tdajobs")
@kopf.on.create(GROUP, VERSION, "tdajobs")
@kopf.on.update(GROUP, VERSION, "tdajobs", field="spec")
def reconcile_tdajob(body: kopf.Body, **_: Any) -> None:
    """Make the children match the spec, then report their state."""
    with metrics.reconciliation("TDAJob") as outcome:
        tdajob = TDAJob.model_validate(dict(body))
        if status_fn.is_finished(tdajob.status):
            return
        try:
            job = reconcile.ensure_children(tdajob, SETTINGS)
        except reconcile.Unrunnable as unrunnable:
            outcome["result"] = str(unrunnable.status.reason).lower()
            reconcile.publish(tdajob, dict(body), unrunnable.status)
            return
        reconcile.publish(tdajob, dict(body), reconcile.observed_status(tdajob, job))


@kopf.on.event("batch", "v1", "jobs", labels=CHILD_JOB_LABELS)
def child_job_changed(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, **_: Any) -> None:
    """A child Job changed: restore it if deleted or edited, then recompute the owner's status."""
    with metrics.reconciliation("Job"):
        found = reconcile.fetch_tdajob(namespace or "default", body["metadata"]["labels"][contract.LABEL_TDAJOB])
        if found is None:  # the owner is gone; the garbage collector takes the Job
            return
        tdajob, tdajob_body = found
        deleted = event.get("type") == "DELETED"
        if status_fn.is_finished(tdajob.status):  # the record is final; only clean-up is left
            if not deleted:
                reconcile.schedule_cleanup(tdajob, tdajob.status, dict(body))
            return
        if deleted:
            job = reconcile.ensure_children(tdajob, SETTINGS)
        elif reconcile.correct_drift(tdajob, dict(body), SETTINGS):
            return  # the re-applied Job brings its own event
        else:
            job = dict(body)
        new_status = reconcile.publish(tdajob, tdajob_body, reconcile.observed_status(tdajob, job))
        if job is not None:
            reconcile.schedule_cleanup(tdajob, new_status, job)


@kopf.on.delete(GROUP, VERSION, "tdajobs", optional=True)
def forget_tdajob(namespace: str | None, name: str | None, **_: Any) -> None:
    """Children go with the owner (garbage collector); only the metrics forget it."""
    metrics.PHASES.set(namespace or "default", name or "", None)
