"""One reconcile per TDAStream: observe (what the watches cached), decide (pure builders
in :mod:`tda_operator.streams`), apply (server-side apply), report.

Children are applied when missing or different from what is desired; the status is
written over the version it was computed from. The APIs of Strimzi and the Flink
operator are found by discovery: where one is not installed, the TDAStream says so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import tda_contract as contract
from kubernetes.client.exceptions import ApiException

from . import kube, metrics, streams
from .models import TDASTREAM_STAND_IN_SPEC, TDAStream, TDAStreamStatus, read_stored, to_k8s
from .reconcile import now
from .settings import Settings
from .status import status_changed
from .workqueue import WorkQueue

Key = tuple[str, str]
DISCOVERY_SECONDS = 30.0


@dataclass
class StreamRun:
    stream: TDAStream | None = None
    resource_version: str = ""
    topics: dict[str, dict[str, Any]] = field(default_factory=dict)  # by KafkaTopic name
    deployment: dict[str, Any] | None = None
    #: Where the stored TDAStream breaks the model (it is then held with a stand-in spec).
    unreadable: list[str] = field(default_factory=list)


class StreamReconciler:
    def __init__(self, settings: Settings, workers: int = 2) -> None:
        self.settings = settings
        self.queue = WorkQueue(self.reconcile, workers=workers)
        self._runs: dict[Key, StreamRun] = {}
        self._lock = threading.Lock()
        self._discovered: dict[str, tuple[float, list[str]]] = {}

    # ------------------------------------------------------------------ the cache

    def _run(self, key: Key) -> StreamRun:
        return self._runs.setdefault(key, StreamRun())

    def set_stream(self, key: Key, body: dict[str, Any] | None) -> None:
        with self._lock:
            if body is None:
                self._runs.pop(key, None)
            else:
                run = self._run(key)
                run.stream, run.unreadable = read_stored(TDAStream, body, TDASTREAM_STAND_IN_SPEC)
                run.resource_version = str(body["metadata"].get("resourceVersion") or "")
        self.queue.add(key)

    def set_topic(self, key: Key, body: dict[str, Any], deleted: bool) -> None:
        with self._lock:
            topics = self._run(key).topics
            if deleted:
                topics.pop(body["metadata"]["name"], None)
            else:
                topics[body["metadata"]["name"]] = body
        self.queue.add(key)

    def set_deployment(self, key: Key, body: dict[str, Any], deleted: bool) -> None:
        with self._lock:
            self._run(key).deployment = None if deleted else body
        self.queue.add(key)

    def _snapshot(self, key: Key) -> StreamRun | None:
        with self._lock:
            run = self._runs.get(key)
            return None if run is None or run.stream is None else StreamRun(
                run.stream, run.resource_version, dict(run.topics), run.deployment, list(run.unreadable))

    def _served(self, group: str) -> list[str]:
        cached = self._discovered.get(group)
        if cached is None or time.monotonic() - cached[0] > DISCOVERY_SECONDS:
            cached = (time.monotonic(), kube.served_versions(group))
            self._discovered[group] = cached
        return cached[1]

    # ------------------------------------------------------------------ the reconcile

    def reconcile(self, key: Hashable) -> float | None:
        assert isinstance(key, tuple)
        with metrics.reconciliation("TDAStream"):
            run = self._snapshot(key)
            if run is None or run.stream is None:
                return None
            stream = run.stream
            if run.unreadable:  # no children for a spec the models cannot read
                self._publish(key, run, streams.unreadable_stream_status(stream, run.unreadable, now()))
                return None
            problems: list[str] = []
            topic_objects = self._ensure_topics(stream, run, problems)
            deployment = self._ensure_deployment(stream, run, problems)
            new = streams.compute_stream_status(stream, topic_objects, deployment, "; ".join(problems) or None,
                                                now())
            self._publish(key, run, new)
            return DISCOVERY_SECONDS if problems else None

    def _ensure_topics(self, stream: TDAStream, run: StreamRun, problems: list[str]) -> dict[str, dict[str, Any] | None]:
        wanted = {role: t for role, t in streams.topics(stream).items() if t.create}
        if not wanted:
            return {}
        api_version = streams.kafka_topic_api_version(self._served(streams.STRIMZI_GROUP))
        if api_version is None:
            problems.append("the Strimzi KafkaTopic API (kafka.strimzi.io) is not installed in this cluster; "
                            "install Strimzi or set create: false on the topics")
            return {}
        found: dict[str, dict[str, Any] | None] = {}
        for role in wanted:
            desired = streams.build_kafka_topic(stream, role, api_version)
            live = run.topics.get(desired["metadata"]["name"])
            if live is None or _differs(desired, live):
                live = kube.apply(desired)
            found[role] = live
        return found

    def _ensure_deployment(self, stream: TDAStream, run: StreamRun, problems: list[str]) -> dict[str, Any] | None:
        if "v1beta1" not in self._served("flink.apache.org"):
            problems.append("the Flink Kubernetes Operator's FlinkDeployment API (flink.apache.org/v1beta1) is "
                            "not installed in this cluster")
            return None
        desired = streams.build_flink_deployment(stream, self.settings.flink_image, self.settings.flink_python_jar)
        live = run.deployment
        if live is None or _differs(desired, live):
            live = kube.apply(desired)
        return live

    def _publish(self, key: Key, run: StreamRun, new: TDAStreamStatus) -> None:
        assert run.stream is not None
        if not status_changed(run.stream.status, new):
            return
        try:
            written = kube.apply_status(key[0], key[1], run.resource_version, to_k8s(new),
                                        kind=contract.TDASTREAM_KIND)
        except ApiException as error:
            if error.status in (404, 409):  # gone, or a newer version is on its way to the cache
                return
            raise
        with self._lock:
            current = self._runs.get(key)
            if current is not None and current.stream is not None:
                current.stream = current.stream.model_copy(update={"status": new})
                current.resource_version = str(written["metadata"].get("resourceVersion") or "")


def _differs(desired: dict[str, Any], live: dict[str, Any]) -> bool:
    """Whether the live object lacks what we want of its spec, labels or owners."""
    live_meta = live.get("metadata") or {}
    if any((live_meta.get("labels") or {}).get(k) != v for k, v in desired["metadata"].get("labels", {}).items()):
        return True
    if [r.get("uid") for r in desired["metadata"].get("ownerReferences") or []] != \
            [r.get("uid") for r in live_meta.get("ownerReferences") or []]:
        return True
    return not _contains(live.get("spec") or {}, desired["spec"])


def _contains(live: Any, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(_contains(live.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, float) and isinstance(live, int | float):
        return float(live) == wanted
    return bool(live == wanted)
