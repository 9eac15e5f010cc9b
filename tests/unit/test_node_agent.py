"""The node agent's pure parts: $(VAR) expansion, field references, probe thresholds."""

from __future__ import annotations

import pytest
from tda_dev.node_agent import ProbeState, expand, field_value

pytestmark = pytest.mark.unit

POD = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u-1",
                 "labels": {"app": "x", "batch.kubernetes.io/job-completion-index": "2"},
                 "annotations": {"a": "1"}},
    "spec": {"nodeName": "tda-local", "serviceAccountName": "sa"},
}


@pytest.mark.parametrize(("text", "expected"), [
    ("$(A)/$(B)", "1/two"),
    ("$$(A)", "$(A)"),
    ("$(MISSING)", "$(MISSING)"),
    ("$(A", "$(A"),
    ("cost $5", "cost $5"),
    ("end$", "end$"),
    ("", ""),
])
def test_expand_follows_kubernetes_rules(text, expected):
    assert expand(text, {"A": "1", "B": "two"}) == expected


def test_field_references():
    assert field_value(POD, "metadata.name") == "p"
    assert field_value(POD, "metadata.namespace") == "ns"
    assert field_value(POD, "metadata.uid") == "u-1"
    assert field_value(POD, "spec.nodeName") == "tda-local"
    assert field_value(POD, "spec.serviceAccountName") == "sa"
    assert field_value(POD, "status.podIP") == "127.0.0.1"
    assert field_value(POD, "metadata.labels['batch.kubernetes.io/job-completion-index']") == "2"
    assert field_value(POD, "metadata.annotations['a']") == "1"
    assert field_value(POD, "metadata.labels") == 'app="x"\nbatch.kubernetes.io/job-completion-index="2"'
    with pytest.raises(ValueError):
        field_value(POD, "spec.containers")


def test_probe_thresholds():
    state = ProbeState({"failureThreshold": 2, "successThreshold": 2, "periodSeconds": 5})
    assert state.due()
    assert state.record(False) is None
    assert not state.due()
    assert state.record(False) == "failure"
    assert state.record(True) is None
    assert state.record(True) == "success"
