"""Pure builders and status of a TDAStream's children (Strimzi KafkaTopics, a FlinkDeployment)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tda_operator import streams
from tda_operator.models import TDAStream, to_k8s

pytestmark = pytest.mark.unit

NOW = "2026-01-01T00:10:00Z"
JAR = "local:///opt/flink/opt/flink-python.jar"


def stream(**spec: Any) -> TDAStream:
    body = {
        "apiVersion": "tda.io/v1alpha1", "kind": "TDAStream",
        "metadata": {"name": "sensors", "namespace": "lab", "uid": "s-uid", "generation": 2},
        "spec": {
            "kafka": {"clusterRef": "my-cluster", "input": {"topic": "sensors"}, "output": {"topic": "sensors.tda"},
                      "deadLetter": {"topic": "sensors_dlq", "partitions": 1}},
            "record": {"keyField": "sensor", "timestampField": "ts"},
            "window": {"type": "sliding", "size": "10s", "slide": "2s", "allowedLateness": "1s"},
            "embedding": {"dimension": 3, "delay": 1},
            **spec,
        },
    }
    return TDAStream.model_validate(body)


def ready(status: str = "True") -> dict[str, Any]:
    return {"status": {"conditions": [{"type": "Ready", "status": status}]}}


def deployment(lifecycle: str | None, job_state: str | None, error: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"lifecycleState": lifecycle, "jobStatus": {"state": job_state, "jobId": "j-1"}}
    if error:
        status["error"] = error
    return {"status": status}


def test_the_served_kafka_topic_version_is_chosen_newest_first():
    assert streams.kafka_topic_api_version(["v1beta2", "v1"]) == "kafka.strimzi.io/v1"
    assert streams.kafka_topic_api_version(["v1beta2"]) == "kafka.strimzi.io/v1beta2"
    assert streams.kafka_topic_api_version(["v1alpha1"]) is None


def test_kafka_topics_carry_the_cluster_label_the_topic_name_and_the_owner():
    s = stream()
    topic = streams.build_kafka_topic(s, "deadLetter", "kafka.strimzi.io/v1")
    assert topic["metadata"]["name"] == "sensors-deadletter"  # a resource name, unlike sensors_dlq
    assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "my-cluster"
    assert topic["spec"] == {"topicName": "sensors_dlq", "partitions": 1, "replicas": 3}
    (owner,) = topic["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("TDAStream", "s-uid", True)
    assert set(streams.topics(s)) == {"input", "output", "deadLetter"}


def test_retained_topics_have_no_owner_so_they_outlive_the_stream():
    s = stream(kafka={"clusterRef": "k", "topicRetention": "Retain", "input": {"topic": "a"}, "output": {"topic": "b"}})
    assert "ownerReferences" not in streams.build_kafka_topic(s, "input", "kafka.strimzi.io/v1")["metadata"]


def test_the_flink_deployment_runs_the_pyflink_job_with_the_stream_spec():
    s = stream(flink={"parallelism": 4, "checkpointInterval": "5s", "upgradeMode": "savepoint",
                      "taskManager": {"resources": {"cpu": "500m", "memory": "1Gi"}}})
    fd = streams.build_flink_deployment(s, "tda/flink:1", JAR)
    assert fd["apiVersion"] == "flink.apache.org/v1beta1" and fd["metadata"]["name"] == "sensors"
    job = fd["spec"]["job"]
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver" and job["jarURI"] == JAR
    assert job["args"][:3] == ["-pym", "tda_stream.job", "--job"]
    document = json.loads(job["args"][3])
    assert document["bootstrapServers"] == "my-cluster-kafka-bootstrap:9092"
    assert document["topics"] == {"input": "sensors", "output": "sensors.tda", "deadLetter": "sensors_dlq"}
    assert document["window"]["size"] == "10s" and document["embedding"] == {"dimension": 3, "delay": 1}
    assert (job["parallelism"], job["upgradeMode"], job["state"]) == (4, "savepoint", "running")
    assert fd["spec"]["flinkConfiguration"]["execution.checkpointing.interval"] == "5s"
    assert fd["spec"]["flinkConfiguration"]["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert fd["spec"]["taskManager"]["resource"] == {"cpu": 0.5, "memory": "1Gi"}
    assert fd["spec"]["image"] == "tda/flink:1"


def test_suspend_suspends_the_job_and_bootstrap_servers_can_be_given():
    s = stream(suspend=True, kafka={"clusterRef": "k", "bootstrapServers": "127.0.0.1:9092",
                                    "input": {"topic": "a"}, "output": {"topic": "b"}})
    fd = streams.build_flink_deployment(s, "img", JAR)
    assert fd["spec"]["job"]["state"] == "suspended"
    assert json.loads(fd["spec"]["job"]["args"][3])["bootstrapServers"] == "127.0.0.1:9092"


@pytest.mark.parametrize(("topic_objects", "fd", "phase", "reason"), [
    ({}, None, "Pending", "TopicsNotReady"),
    ({"input": ready(), "output": ready(), "deadLetter": ready("False")}, None, "Pending", "TopicsNotReady"),
    ({"input": ready(), "output": ready(), "deadLetter": ready()}, None, "Pending", "Creating"),
    ({"input": ready(), "output": ready(), "deadLetter": ready()}, deployment("DEPLOYED", "RECONCILING"),
     "Deploying", "Deploying"),
    ({"input": ready(), "output": ready(), "deadLetter": ready()}, deployment("STABLE", "RUNNING"),
     "Running", "Running"),
    ({"input": ready(), "output": ready(), "deadLetter": ready()}, deployment("FAILED", "FAILED"),
     "Failed", "JobFailed"),
])
def test_phase_from_topics_and_flink(topic_objects, fd, phase, reason):
    status = streams.compute_stream_status(stream(), topic_objects, fd, None, NOW)
    assert (status.phase, status.reason) == (phase, reason)
    assert status.observedGeneration == 2
    conditions = {c.type: c.status for c in status.conditions}
    assert conditions == {"Ready": "True" if phase == "Running" else "False",
                          "Failed": "True" if phase == "Failed" else "False"}


def test_suspended_once_flink_says_so():
    status = streams.compute_stream_status(stream(suspend=True), {"input": ready(), "output": ready(),
                                                                   "deadLetter": ready()},
                                           deployment("SUSPENDED", "SUSPENDED"), None, NOW)
    assert status.phase == "Suspended" and status.flink.jobState == "SUSPENDED"


def test_external_topics_need_no_strimzi():
    s = stream(kafka={"clusterRef": "k", "input": {"topic": "a", "create": False},
                      "output": {"topic": "b", "create": False}})
    status = streams.compute_stream_status(s, {}, deployment("STABLE", "RUNNING"), None, NOW)
    assert status.phase == "Running"
    assert status.topics.input == "External" and status.topics.output == "External"


def test_flink_errors_are_named_by_type_never_quoted():
    error = json.dumps({"type": "org.apache.flink.kubernetes.operator.exception.ReconciliationException",
                        "message": "secret-config-value=hunter2"})
    topic_objects = {"input": ready(), "output": ready(), "deadLetter": ready()}
    status = streams.compute_stream_status(stream(), topic_objects, deployment("DEPLOYED", "RESTARTING", error),
                                           None, NOW)
    text = json.dumps(to_k8s(status))
    assert "ReconciliationException" in text and "hunter2" not in text


def test_a_missing_api_is_reported():
    status = streams.compute_stream_status(stream(), {}, None, "the Strimzi KafkaTopic API is not installed", NOW)
    assert (status.phase, status.reason) == ("Pending", "ChildrenRefused")
