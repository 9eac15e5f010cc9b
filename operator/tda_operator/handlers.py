"""kopf handlers: watch, fill the cache, queue the owning TDAJob. Nothing else.

They are coroutines that never wait (a cache update and a queue entry), so kopf calls them on
its event loop instead of handing each event to a thread pool.

Each watch is narrowed on the server by a label selector, so unrelated Jobs, pods and
ConfigMaps never reach the operator. The reconcile itself runs from the work queue
(:mod:`tda_operator.reconcile`), where failures are retried with backoff.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
import tda_contract as contract

from . import status as status_fn
from . import streams
from .cache import Cache
from .reconcile import Reconciler
from .settings import FIELD_MANAGER, Settings, reconcile_workers
from .stream_reconcile import StreamReconciler

SETTINGS = Settings.from_env()
CACHE = Cache()
RECONCILER = Reconciler(CACHE, SETTINGS, workers=reconcile_workers())

JOB_SELECTOR = f"{contract.LABEL_MANAGED_BY}={FIELD_MANAGER},{contract.LABEL_TDAJOB}"
POD_SELECTOR = f"{contract.LABEL_MANAGED_BY}={FIELD_MANAGER},{contract.LABEL_TDAJOB}"
RECORD_SELECTOR = f"{contract.LABEL_TDAJOB},{contract.LABEL_ROLE} in ({','.join(contract.WATCHED_ROLES)})"
#: The Job controller's Events saying it cannot create a Job's pods (PodSecurity, quota): watched,
#: so a Job without pods costs no request (a field-selected list is slow on a busy server).
FAILED_CREATE_SELECTOR = "involvedObject.kind=Job,reason=FailedCreate"
STREAMS = StreamReconciler(SETTINGS)
STREAM_CHILD_SELECTOR = f"{contract.LABEL_MANAGED_BY}={FIELD_MANAGER},{streams.LABEL_TDASTREAM}"
#: kopf's keys are (group, version, plural) or (group, plural) tuples; a "group/plural" string
#: would be read as something else and select nothing.
LABEL_SELECTORS: dict[Any, str] = {
    ("batch", "v1", "jobs"): JOB_SELECTOR,
    ("", "v1", "pods"): POD_SELECTOR,
    ("", "v1", "configmaps"): RECORD_SELECTOR,
    ("kafka.strimzi.io", "kafkatopics"): STREAM_CHILD_SELECTOR,
    ("flink.apache.org", "flinkdeployments"): STREAM_CHILD_SELECTOR,
}


class EventsOnlyDiffBase(kopf.DiffBaseStorage):
    """No diff base: kopf computes one per event (a deep copy of the object) for on-create/
    update handlers, and this operator has only on-event handlers, which never read it."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Server-side selectors: only our children and records are ever sent to us.
    for resource, selector in LABEL_SELECTORS.items():
        settings.watching.label_selectors[resource] = selector
    settings.watching.field_selectors["", "v1", "events"] = FAILED_CREATE_SELECTOR
    # Long watches end server-side before the client gives up; a dead connection is noticed.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 15
    settings.persistence.diffbase_storage = EventsOnlyDiffBase()
    settings.posting.enabled = False  # our Events come from phase transitions (reconcile.publish)
    # Replicas take turns by a Lease (cli --leader-election), so only the leader runs kopf at all:
    # kopf's own peering would freeze every replica of equal priority, leaving none working.
    settings.peering.standalone = True
    RECONCILER.start()
    STREAMS.queue.start()


def _owner_key(body: kopf.Body, namespace: str | None) -> tuple[str, str] | None:
    name = (body.get("metadata", {}).get("labels") or {}).get(contract.LABEL_TDAJOB)
    return (namespace or "default", name) if name else None


@kopf.on.event(contract.GROUP, contract.VERSION, contract.TDAJOB_PLURAL)
async def tdajob_event(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, name: str | None, **_: Any) -> None:
    key = (namespace or "default", name or "")
    deleted = event.get("type") == "DELETED"
    CACHE.set_tdajob(key, None if deleted else dict(body))
    # A TDAJob without a status is new: its Job goes before status updates of running ones.
    RECONCILER.queue.add(key, urgent=not deleted and not (body.get("status") or {}).get("phase"))


@kopf.on.event("batch", "v1", "jobs")
async def job_event(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, **_: Any) -> None:
    key = _owner_key(body, namespace)
    if key is not None:
        deleted = event.get("type") == "DELETED"
        CACHE.set_job(key, None if deleted else dict(body))
        # A Job that just finished is a TDAJob's final status: it goes before progress updates.
        RECONCILER.queue.add(key, urgent=not deleted and any(
            status_fn.job_condition(dict(body), kind) for kind in ("Complete", "Failed")))


@kopf.on.event("", "v1", "pods")
async def pod_event(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, **_: Any) -> None:
    key = _owner_key(body, namespace)
    if key is not None:
        CACHE.set_pod(key, dict(body), deleted=event.get("type") == "DELETED")
        RECONCILER.queue.add(key)


@kopf.on.event("", "v1", "configmaps")
async def record_event(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, **_: Any) -> None:
    key = _owner_key(body, namespace)
    if key is not None and CACHE.observe_record(key, dict(body), deleted=event.get("type") == "DELETED"):
        RECONCILER.queue.add(key)


@kopf.on.event("", "v1", "events")
async def failed_create_event(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, **_: Any) -> None:
    involved = body.get("involvedObject") or {}
    # A TDAJob's Job has the TDAJob's name (contract.job_name); other Jobs' Events are ignored.
    key = (involved.get("namespace") or namespace or "default", str(involved.get("name") or ""))
    if event.get("type") != "DELETED" and CACHE.note_failed_create(key, dict(body)):
        RECONCILER.queue.add(key)


@kopf.on.event(contract.GROUP, contract.VERSION, contract.TDASTREAM_PLURAL)
async def tdastream_event(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, name: str | None, **_: Any) -> None:
    STREAMS.set_stream((namespace or "default", name or ""), None if event.get("type") == "DELETED" else dict(body))


def _stream_key(body: kopf.Body, namespace: str | None) -> tuple[str, str] | None:
    name = (body.get("metadata", {}).get("labels") or {}).get(streams.LABEL_TDASTREAM)
    return (namespace or "default", name) if name else None


@kopf.on.event("kafka.strimzi.io", "kafkatopics")
async def kafka_topic_event(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, **_: Any) -> None:
    key = _stream_key(body, namespace)
    if key is not None:
        STREAMS.set_topic(key, dict(body), deleted=event.get("type") == "DELETED")


@kopf.on.event("flink.apache.org", "flinkdeployments")
async def flink_deployment_event(event: kopf.RawEvent, body: kopf.Body, namespace: str | None, **_: Any) -> None:
    key = _stream_key(body, namespace)
    if key is not None:
        STREAMS.set_deployment(key, dict(body), deleted=event.get("type") == "DELETED")


logging.getLogger("kubernetes").setLevel(logging.WARNING)
