"""The operator's watches are narrowed on the server: kopf must send every label selector."""

from __future__ import annotations

import kopf
import pytest
from kopf._cogs.structs.references import Resource

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("resource", "needle"), [
    (Resource("batch", "v1", "jobs"), "tda.io/tdajob"),
    (Resource("", "v1", "pods"), "tda.io/tdajob"),
    (Resource("", "v1", "configmaps"), "tda.io/role in (result,manifest)"),
    (Resource("kafka.strimzi.io", "v1", "kafkatopics"), "tda.io/tdastream"),
    (Resource("flink.apache.org", "v1beta1", "flinkdeployments"), "tda.io/tdastream"),
])
def test_each_child_watch_carries_its_selector(resource, needle):
    from tda_operator import handlers

    settings = kopf.OperatorSettings()
    for key, selector in handlers.LABEL_SELECTORS.items():
        settings.watching.label_selectors[key] = selector
    (selector,) = settings.watching.label_selectors.collect(resource)
    assert needle in selector
    # The resources the operator reconciles are watched whole.
    assert not list(settings.watching.label_selectors.collect(Resource("tda.io", "v1alpha1", "tdajobs")))


def test_only_the_job_controllers_failed_create_events_are_watched():
    from tda_operator import handlers

    settings = kopf.OperatorSettings()
    settings.watching.field_selectors["", "v1", "events"] = handlers.FAILED_CREATE_SELECTOR
    (selector,) = settings.watching.field_selectors.collect(Resource("", "v1", "events"))
    assert set(selector.split(",")) == {"involvedObject.kind=Job", "reason=FailedCreate"}
