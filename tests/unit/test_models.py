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


# ------------------------------------------------------------------ objects stored under an older schema

MARKER = "hostile-marker-7f3a"


@pytest.mark.parametrize(("spec", "field"), [
    (5, "spec"),
    ({"input": {"inline": {"points": [[0, 0]]}}, "computation": {"maxDimension": MARKER}}, "spec.computation.maxDimension"),
    ({"computation": {"coefficient": 4}}, "spec.input"),
    ({"input": {"inline": {"points": MARKER}}}, "spec.input.inline.points"),
])
def test_a_stored_tdajob_the_models_cannot_read_is_held_with_a_stand_in_and_its_fields(spec, field):
    from tda_operator.cache import Cache
    from tda_operator.models import TDAJOB_STAND_IN_SPEC, read_stored, unreadable_message

    body = {"apiVersion": "tda.io/v1alpha1", "kind": "TDAJob",
            "metadata": {"name": "old", "namespace": "ns", "uid": "u1", "generation": 3},
            "spec": spec, "status": {"phase": MARKER}}
    tdajob, fields = read_stored(TDAJob, body, TDAJOB_STAND_IN_SPEC)
    assert field in fields and not any(f.startswith("status") for f in fields)
    assert tdajob.metadata.generation == 3 and tdajob.spec.suspend
    message = unreadable_message(fields)
    assert field in message and MARKER not in message
    cache = Cache()
    cache.set_tdajob(("ns", "old"), body)
    run = cache.get(("ns", "old"))
    assert run is not None and run.unreadable == fields and run.tdajob is not None


def test_a_readable_object_has_no_unreadable_fields():
    from tda_operator.models import TDAJOB_STAND_IN_SPEC, read_stored

    body = {"metadata": {"name": "fine"}, "spec": {"input": {"inline": {"points": [[0.0, 1.0]]}}}}
    tdajob, fields = read_stored(TDAJob, body, TDAJOB_STAND_IN_SPEC)
    assert fields == [] and tdajob.spec.input.inline is not None


def test_an_unreadable_tdastream_is_failed_naming_the_fields():
    from tda_operator import streams
    from tda_operator.models import TDASTREAM_STAND_IN_SPEC, TDAStream, read_stored

    body = {"metadata": {"name": "old", "namespace": "ns", "generation": 2},
            "spec": {"kafka": {"clusterRef": "c", "input": {"topic": "a"}, "output": {"topic": "b"}},
                     "window": {"type": MARKER}}}
    stream, fields = read_stored(TDAStream, body, TDASTREAM_STAND_IN_SPEC)
    status = streams.unreadable_stream_status(stream, fields, "2026-01-01T00:00:00Z")
    assert status.phase == "Failed" and status.reason == "InvalidSpec" and status.observedGeneration == 2
    assert "spec.window.type" in (status.message or "") and MARKER not in (status.message or "")


def test_a_status_of_an_older_schema_is_dropped_not_held_against_the_spec():
    from tda_operator.models import TDAJOB_STAND_IN_SPEC, read_stored

    body = {"metadata": {"name": "fine"}, "spec": {"input": {"inline": {"points": [[0.0, 1.0]]}}},
            "status": {"phase": "Ancient", "progress": "half"}}
    tdajob, fields = read_stored(TDAJob, body, TDAJOB_STAND_IN_SPEC)
    assert fields == [] and tdajob.status.phase != "Ancient" and tdajob.spec.input.inline is not None
