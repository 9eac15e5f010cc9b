"""TDAStream on the local platform: admission, then Strimzi KafkaTopics and a FlinkDeployment
accepted by the real CRDs, topics made real on the local Kafka broker (the topic stand-in),
owner references, suspend, spec changes and topic retention.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest
from support import wait_for
from test_tdajob import custom, operator  # noqa: F401 - fixtures

pytestmark = pytest.mark.integration

GROUP, VERSION, PLURAL = "tda.io", "v1alpha1", "tdastreams"


def local_platform(platform) -> None:
    if platform.external:
        pytest.skip("needs the local platform's Kafka broker and topic stand-in")


def body(name: str, **spec: Any) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:6]
    base = {
        "kafka": {"clusterRef": "local", "input": {"topic": f"in-{suffix}", "replicas": 1, "partitions": 2},
                  "output": {"topic": f"out-{suffix}", "replicas": 1, "partitions": 2},
                  "deadLetter": {"topic": f"dlq-{suffix}", "replicas": 1, "partitions": 1}},
        "record": {"keyField": "sensor", "timestampField": "ts"},
        "window": {"type": "sliding", "size": "10s", "slide": "2s"},
        "embedding": {"dimension": 3, "delay": 1},
    }
    for key, value in spec.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TDAStream", "metadata": {"name": name}, "spec": base}


def get(custom, namespace: str, name: str) -> dict[str, Any]:  # noqa: F811
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)


def kafka_topics(bootstrap: str) -> set[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


@pytest.fixture
def bootstrap(platform) -> str:
    local_platform(platform)
    from tda_dev import kafka

    return kafka.bootstrap_servers()


BAD = [
    ("slide", {"window": {"type": "sliding", "size": "2s", "slide": "10s"}}, "must not exceed spec.window.size"),
    ("duration", {"window": {"type": "sliding", "size": "ten", "slide": "1s"}}, "spec.window.size"),
    ("count", {"window": {"type": "count"}}, "sizeRecords is required"),
    ("same-topic", {"kafka": {"clusterRef": "k", "input": {"topic": "a"}, "output": {"topic": "a"}}},
     "must differ from spec.kafka.input.topic"),
    ("topic-name", {"kafka": {"clusterRef": "k", "input": {"topic": "a b"}, "output": {"topic": "b"}}},
     "spec.kafka.input.topic"),
    ("features", {"computation": {"features": ["totalPersistence", "magic"]}}, "spec.computation.features"),
    ("parallelism", {"flink": {"parallelism": 0}}, "spec.flink.parallelism"),
]


@pytest.mark.parametrize(("case", "spec", "message"), BAD, ids=[b[0] for b in BAD])
def test_malformed_streams_are_refused_naming_the_field(platform, custom, namespace, case, spec, message):  # noqa: F811
    from kubernetes.client.exceptions import ApiException

    obj = body(f"bad-{case}")
    for key, value in spec.items():
        obj["spec"][key] = value
    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, obj)
    assert refused.value.status == 422 and message in refused.value.body, refused.value.body


def test_a_long_name_is_refused_with_the_limit(platform, custom, namespace):  # noqa: F811
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as refused:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body("s" * 46))
    assert "at most 45 characters" in refused.value.body


def test_a_stream_gets_real_topics_and_a_flink_deployment(platform, operator, custom, namespace, bootstrap):  # noqa: F811
    obj = body("sensors")
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, obj)
    topics = {role: obj["spec"]["kafka"][role]["topic"] for role in ("input", "output", "deadLetter")}

    def topics_ready():
        status = get(custom, namespace, "sensors").get("status") or {}
        return status if status.get("topics") == {"input": "Ready", "output": "Ready", "deadLetter": "Ready"} else None

    status = wait_for("the topics to be Ready", topics_ready, timeout=120)
    assert set(topics.values()) <= kafka_topics(bootstrap)  # real topics on the broker
    listed = custom.list_namespaced_custom_object("kafka.strimzi.io", "v1", namespace, "kafkatopics")["items"]
    by_name = {t["spec"]["topicName"]: t for t in listed}
    assert set(by_name) == set(topics.values())
    for topic in by_name.values():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "local"
        assert topic["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    deployment = custom.get_namespaced_custom_object("flink.apache.org", "v1beta1", namespace, "flinkdeployments",
                                                     "sensors")
    job = deployment["spec"]["job"]
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver" and job["state"] == "running"
    assert json.loads(job["args"][3])["topics"] == topics
    assert status["phase"] in ("Deploying", "Running") and status["observedGeneration"] == 1


def test_suspend_and_spec_changes_reach_the_flink_deployment(platform, operator, custom, namespace, bootstrap):  # noqa: F811
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body("paused"))

    def deployment():
        from kubernetes.client.exceptions import ApiException

        try:
            return custom.get_namespaced_custom_object("flink.apache.org", "v1beta1", namespace,
                                                       "flinkdeployments", "paused")
        except ApiException:
            return None

    wait_for("the FlinkDeployment", deployment)
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "paused",
                                          {"spec": {"suspend": True, "flink": {"parallelism": 3}}})
    wait_for("the job to be suspended with parallelism 3",
             lambda: (d := deployment()) and d["spec"]["job"]["state"] == "suspended"
             and d["spec"]["job"]["parallelism"] == 3)


@pytest.mark.parametrize("retention", ["Delete", "Retain"])
def test_topic_retention_on_delete(platform, operator, custom, namespace, bootstrap, retention):  # noqa: F811
    obj = body(f"ret-{retention.lower()}", kafka={"topicRetention": retention})
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, copy.deepcopy(obj))
    name = obj["metadata"]["name"]
    topic = obj["spec"]["kafka"]["input"]["topic"]
    wait_for("the input topic", lambda: topic in kafka_topics(bootstrap), timeout=120)
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    if retention == "Delete":
        wait_for("the topic to go with the stream", lambda: topic not in kafka_topics(bootstrap), timeout=120)
    else:
        wait_for("the stream to go", lambda: not custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL)["items"])
        import time

        time.sleep(5)  # the garbage collector had its chance
        assert topic in kafka_topics(bootstrap)
        remaining = custom.list_namespaced_custom_object("kafka.strimzi.io", "v1", namespace, "kafkatopics")["items"]
        assert topic in {t["spec"]["topicName"] for t in remaining}
