"""Stand-in for Strimzi's topic operator on the local platform.

Strimzi runs as container images, which the local node cannot run; this process does
the part our platform relies on, as the node agent stands in for kubelet: every
`KafkaTopic` (the real Strimzi CRD, installed by `tda-dev up`) becomes a real topic on
the local broker through the Kafka Admin API, and its status says `Ready` as Strimzi
would write it -- or not Ready with Kafka's reason. Like Strimzi it holds a finalizer,
deletes the Kafka topic when the resource goes, and leaves topics alone whose
`strimzi.io/managed` annotation is "false". Like Strimzi's periodic reconciliation, a
topic that is not Ready (a broker still starting, a topic of the same name still being
deleted) is tried again every few seconds until it is. One local broker plays every cluster, so a
topic's replication factor is capped at one (the manifest keeps what production wants).

    python -m tda_dev.strimzi_standin --kubeconfig KUBECONFIG --bootstrap HOST:PORT [--ready FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import threading
import time
from pathlib import Path
from typing import Any, cast

GROUP = "kafka.strimzi.io"
VERSIONS = ("v1", "v1beta2")
PLURAL = "kafkatopics"
FINALIZER = "strimzi.io/topic-operator"
MANAGED = "strimzi.io/managed"
LOCAL_BROKERS = 1
#: How often topics that are not Ready are tried again (Strimzi reconciles periodically too).
RETRY_SECONDS = 3.0
log = logging.getLogger("strimzi-standin")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def topic_name(obj: dict[str, Any]) -> str:
    return str((obj.get("spec") or {}).get("topicName") or obj["metadata"]["name"])


def ready_status(obj: dict[str, Any], error: Exception | None) -> dict[str, Any]:
    """The status Strimzi writes: a Ready condition, the topic name, the generation seen."""
    ready = "True" if error is None else "False"
    previous: dict[str, Any] = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {})
    since = previous.get("lastTransitionTime") if previous.get("status") == ready else None
    condition: dict[str, Any] = {"type": "Ready", "status": ready, "lastTransitionTime": since or now()}
    if error is not None:
        condition["reason"] = type(error).__name__
        condition["message"] = str(error)[:500]
    return {"conditions": [condition], "topicName": topic_name(obj),
            "observedGeneration": obj["metadata"].get("generation", 0)}


def settled(obj: dict[str, Any]) -> bool:
    """Nothing left to do: an unmanaged topic, or this generation is Ready (and not being deleted)."""
    meta = obj["metadata"]
    if meta.get("deletionTimestamp"):
        return FINALIZER not in (meta.get("finalizers") or [])
    if (meta.get("annotations") or {}).get(MANAGED) == "false":
        return True
    status = obj.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return ready and status.get("observedGeneration") == meta.get("generation") and FINALIZER in (meta.get("finalizers") or [])


class TopicStandIn:
    def __init__(self, api: Any, admin: Any) -> None:
        from kubernetes import client

        self.custom = client.CustomObjectsApi(api)
        self.admin = admin
        self.version = self._served_version(api)
        self._lock = threading.Lock()  # the watch and the retry loop handle one topic at a time

    @staticmethod
    def _served_version(api: Any) -> str:
        from kubernetes import client

        while True:
            groups = client.ApisApi(api).get_api_versions().groups
            for group in groups:
                if group.name == GROUP:
                    served = {v.version for v in group.versions}
                    return next(v for v in VERSIONS if v in served)
            log.info("waiting for the KafkaTopic CRD")
            time.sleep(2)

    def run(self, ready_file: Path | None) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        threading.Thread(target=self._retry_forever, name="retry", daemon=True).start()
        while True:
            listed = cast(dict[str, Any], self.custom.list_cluster_custom_object(GROUP, self.version, PLURAL))
            for obj in listed["items"]:
                self.handle(obj)
            if ready_file is not None:
                ready_file.write_text("ready\n")
            try:
                for event in watch.Watch().stream(self.custom.list_cluster_custom_object, GROUP, self.version, PLURAL,
                                                  resource_version=listed["metadata"]["resourceVersion"],
                                                  timeout_seconds=240):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.handle(event["object"])
            except ApiException as error:
                if error.status != 410:  # 410: the watch is too old; list again
                    log.warning("watch failed (HTTP %s); listing again", error.status)

    def _retry_forever(self) -> None:
        while True:
            time.sleep(RETRY_SECONDS)
            try:
                listed = cast(dict[str, Any], self.custom.list_cluster_custom_object(GROUP, self.version, PLURAL))
            except Exception as error:  # noqa: BLE001 - the API server may be restarting
                log.warning("listing KafkaTopics failed: %s", type(error).__name__)
                continue
            for obj in listed["items"]:
                if not settled(obj):
                    self.handle(obj)

    def handle(self, obj: dict[str, Any]) -> None:
        try:
            with self._lock:
                self._handle(obj)
        except Exception as error:  # noqa: BLE001 - one topic must not stop the others; retried
            log.warning("KafkaTopic %s/%s: %s", obj["metadata"].get("namespace"), obj["metadata"]["name"], error)

    def _handle(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        managed = (meta.get("annotations") or {}).get(MANAGED) != "false"
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            if FINALIZER in finalizers:
                if managed and not self._shared(obj):
                    self._delete_topic(topic_name(obj))
                self._patch(obj, {"metadata": {"finalizers": [f for f in finalizers if f != FINALIZER],
                                               "resourceVersion": meta["resourceVersion"]}})
            return
        if not managed:
            return
        if FINALIZER not in finalizers:
            self._patch(obj, {"metadata": {"finalizers": [*finalizers, FINALIZER]}})
        if settled(obj):
            return
        error = self._ensure_topic(obj)
        self.custom.patch_namespaced_custom_object_status(
            GROUP, self.version, meta["namespace"], PLURAL, meta["name"], {"status": ready_status(obj, error)})

    def _shared(self, obj: dict[str, Any]) -> bool:
        """Whether another live KafkaTopic names the same topic: in production it would belong to
        another namespace's cluster, here to the same one local broker, so the topic stays."""
        name, uid = topic_name(obj), obj["metadata"].get("uid")
        listed: Any = self.custom.list_cluster_custom_object(GROUP, self.version, PLURAL)
        others: list[dict[str, Any]] = listed["items"]
        return any(topic_name(o) == name and o["metadata"].get("uid") != uid
                   and not o["metadata"].get("deletionTimestamp") for o in others)

    def _patch(self, obj: dict[str, Any], patch: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.custom.patch_namespaced_custom_object(GROUP, self.version, meta["namespace"], PLURAL, meta["name"], patch)

    def _ensure_topic(self, obj: dict[str, Any]) -> Exception | None:
        from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
        from kafka.errors import KafkaError, TopicAlreadyExistsError

        spec = obj.get("spec") or {}
        name = topic_name(obj)
        partitions = int(spec.get("partitions") or 1)
        config = {str(k): str(v) for k, v in (spec.get("config") or {}).items()}
        try:
            try:
                self.admin.create_topics([NewTopic(name, partitions, LOCAL_BROKERS,
                                                   topic_configs=config)])
                return None
            except TopicAlreadyExistsError:
                pass
            described = self.admin.describe_topics([name])
            current = len(described[0]["partitions"]) if described else partitions
            if partitions > current:
                self.admin.create_partitions({name: NewPartitions(partitions)})
            if config:
                self.admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=config)])
        except KafkaError as error:
            return error
        return None

    def _delete_topic(self, name: str) -> None:
        from kafka.errors import UnknownTopicOrPartitionError

        with contextlib.suppress(UnknownTopicOrPartitionError):  # gone already
            self.admin.delete_topics([name])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tda_dev.strimzi_standin", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--ready", type=Path, default=None, help="file written once the first listing is done")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s strimzi-standin %(levelname)s %(message)s")
    from kafka import KafkaAdminClient
    from kubernetes import config

    api = config.new_client_from_config(args.kubeconfig)
    admin = KafkaAdminClient(bootstrap_servers=args.bootstrap, client_id="strimzi-standin")
    TopicStandIn(api, admin).run(args.ready)


if __name__ == "__main__":
    main()
