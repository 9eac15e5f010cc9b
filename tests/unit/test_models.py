"""The pydantic models: defaults, ranges, enums and the dump the API server would store."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tda_operator.models import TDAJob, TDAJobSpec, TDAStreamSpec, to_k8s

pytestmark = pytest.mark.unit

INLINE = {"inline": {"points": [[0.0, 1.0], [1.0, 0.0]]}}


def test_defaults():
    spec = TDAJobSpec.model_validate({"input": INLINE})
    assert spec.computation.complex == "rips"
    assert spec.computation.maxDimension == 1 and spec.computation.coefficient == 2
    assert spec.computation.features == ["diagrams"]
    assert spec.parallelism == 1 and spec.backoffLimitPerDataset == 2 and spec.suspend is False
    assert spec.output.url is None


@pytest.mark.parametrize(
    "patch",
    [
        {"parallelism": 0},
        {"computation": {"maxDimension": 9}},
        {"computation": {"complex": "alpha"}},
        {"computation": {"metric": "hamming"}},
        {"computation": {"threshold": 0}},
        {"computation": {"features": []}},
        {"input": {"url": "ftp://host/x.npy"}},
        {"input": {"inline": {"points": []}}},
        {"backoffLimitPerDataset": -1},
    ],
)
def test_out_of_range_values_are_refused(patch):
    with pytest.raises(ValidationError):
        TDAJobSpec.model_validate({"input": INLINE, **patch})


def test_enum_values_are_plain_strings_in_the_dump():
    spec = TDAJobSpec.model_validate({"input": {**INLINE, "format": "npy"}, "computation": {"metric": "cosine"}})
    dumped = spec.model_dump(mode="json", exclude_none=True)
    assert dumped["computation"]["metric"] == "cosine" and dumped["input"]["format"] == "npy"


def test_tdajob_parses_a_live_object_and_ignores_unknown_fields():
    body = {
        "apiVersion": "tda.io/v1alpha1",
        "kind": "TDAJob",
        "metadata": {"name": "a", "namespace": "n", "uid": "u", "generation": 2, "managedFields": []},
        "spec": {"input": INLINE},
        "status": {"phase": "Running", "progress": {"total": 1}, "kopf": {"x": 1}},
    }
    tdajob = TDAJob.model_validate(body)
    assert tdajob.metadata.generation == 2 and tdajob.status.phase == "Running"
    assert "kopf" not in to_k8s(tdajob.status)
    assert to_k8s(tdajob.spec)["input"] == INLINE


def test_stream_spec():
    spec = TDAStreamSpec.model_validate(
        {"kafka": {"clusterRef": "kafka", "input": {"topic": "in"}, "output": {"topic": "out"}},
         "window": {"size": "10s", "slide": "2s"}}
    )
    assert spec.embedding is None and spec.flink.parallelism == 2 and spec.kafka.topicRetention == "Delete"
    assert spec.kafka.input.partitions == 6 and spec.record.valueFields == ["value"]
    assert "changeScore" in spec.computation.features
    with pytest.raises(ValidationError):  # no output topic
        TDAStreamSpec.model_validate({"kafka": {"clusterRef": "k", "input": {"topic": "in"}},
                                      "window": {"size": "1s"}})
    with pytest.raises(ValidationError):  # not a duration
        TDAStreamSpec.model_validate({"kafka": {"clusterRef": "k", "input": {"topic": "a"}, "output": {"topic": "b"}},
                                      "window": {"size": "ten seconds"}})
