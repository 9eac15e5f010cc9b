"""The Strimzi topic stand-in's pure parts: when a KafkaTopic needs (more) work."""

from __future__ import annotations

import pytest
from tda_dev.strimzi_standin import FINALIZER, MANAGED, ready_status, settled

pytestmark = pytest.mark.unit


def topic(generation: int = 1, observed: int | None = 1, ready: str | None = "True", **meta):
    obj = {"metadata": {"name": "t", "namespace": "ns", "generation": generation, "finalizers": [FINALIZER], **meta},
           "spec": {"partitions": 1}}
    if ready is not None:
        obj["status"] = {"observedGeneration": observed,
                         "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": "then"}]}
    return obj


def test_a_ready_topic_of_the_current_generation_is_settled():
    assert settled(topic())


@pytest.mark.parametrize("obj", [
    topic(ready="False"),            # Kafka refused (broker starting, topic being deleted): tried again
    topic(ready=None),               # never handled
    topic(generation=2, observed=1),  # a spec change not applied yet
    topic(finalizers=[]),            # the finalizer is not on yet
    topic(deletionTimestamp="now"),  # going, with our finalizer still on
])
def test_topics_with_work_left_are_not_settled(obj):
    assert not settled(obj)


def test_unmanaged_topics_are_left_alone():
    assert settled(topic(ready=None, annotations={MANAGED: "false"}))


def test_the_transition_time_moves_only_when_readiness_changes():
    assert ready_status(topic(ready="True"), None)["conditions"][0]["lastTransitionTime"] == "then"
    changed = ready_status(topic(ready="True"), RuntimeError("broker"))["conditions"][0]
    assert changed["status"] == "False" and changed["lastTransitionTime"] != "then"
    assert changed["reason"] == "RuntimeError"


def test_a_topic_another_live_kafkatopic_names_is_kept_when_one_goes():
    """One local broker plays every cluster: the same topic in two namespaces is one topic here."""
    from tda_dev.strimzi_standin import TopicStandIn

    def kafka_topic(uid: str, namespace: str, deleting: bool = False) -> dict:
        meta = {"name": "sensors", "namespace": namespace, "uid": uid}
        return {"metadata": {**meta, **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {})},
                "spec": {"partitions": 1}}

    class Custom:
        def __init__(self, items: list) -> None:
            self.items = items

        def list_cluster_custom_object(self, *_: object) -> dict:
            return {"items": self.items}

    going = kafka_topic("a", "team-a", deleting=True)
    standin = TopicStandIn.__new__(TopicStandIn)
    standin.version = "v1"
    standin.custom = Custom([going, kafka_topic("b", "team-b")])
    assert standin._shared(going)
    standin.custom = Custom([going, kafka_topic("b", "team-b", deleting=True)])
    assert not standin._shared(going)
