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
