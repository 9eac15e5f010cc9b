"""The real Strimzi KafkaTopic and Flink FlinkDeployment CRDs the local platform installs.

Integration: the first run downloads from Maven Central and needs Java >= 21; later runs
read the cached files.
"""

from __future__ import annotations

from typing import Any

import pytest
from tda_dev import thirdparty_crds

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def crds() -> dict[str, dict[str, Any]]:
    docs: list[Any] = [thirdparty_crds.load(p) for p in thirdparty_crds.ensure()]
    return {d["spec"]["names"]["kind"]: d for d in docs}


def _property(crd: dict[str, Any], version: str, path: str) -> dict[str, Any]:
    (v,) = (v for v in crd["spec"]["versions"] if v["name"] == version)
    node: dict[str, Any] = v["schema"]["openAPIV3Schema"]
    for part in path.split("."):
        assert part in node.get("properties", {}), f"{crd['metadata']['name']} {version}: no {path}"
        node = node["properties"][part]
    return node


def test_files_are_cached_under_the_version_key():
    files = thirdparty_crds.ensure()
    assert [f.parent for f in files] == [thirdparty_crds.crd_dir()] * 2
    assert thirdparty_crds.crd_dir().name == (
        f"crds-flink-{thirdparty_crds.FLINK_OPERATOR_VERSION}_strimzi-{thirdparty_crds.STRIMZI_VERSION}"
    )
    assert thirdparty_crds.ensure() == files  # cached: same files, no rebuild


def test_kafkatopic_crd_is_strimzis_v1(crds):
    crd = crds["KafkaTopic"]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == "kafkatopics.kafka.strimzi.io"
    assert crd["spec"]["group"] == "kafka.strimzi.io"
    assert crd["spec"]["scope"] == "Namespaced"
    # Strimzi >= 1.0 serves (and stores) v1 only: v1alpha1/v1beta1/v1beta2 are gone.
    versions = {v["name"]: (v["served"], v["storage"]) for v in crd["spec"]["versions"]}
    assert versions == {"v1": (True, True)}
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_kafkatopic_schema(crds):
    crd = crds["KafkaTopic"]
    assert _property(crd, "v1", "spec.partitions")["type"] == "integer"
    assert _property(crd, "v1", "spec.partitions")["minimum"] == 1
    assert _property(crd, "v1", "spec.replicas")["type"] == "integer"
    assert _property(crd, "v1", "spec.config")["type"] == "object"
    assert _property(crd, "v1", "spec.topicName")["type"] == "string"
    assert _property(crd, "v1", "status.conditions")["type"] == "array"
    assert "type" in _property(crd, "v1", "status.conditions")["items"]["properties"]


def test_flinkdeployment_crd_serves_v1beta1(crds):
    crd = crds["FlinkDeployment"]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "flinkdeployments.flink.apache.org"
    assert crd["spec"]["group"] == "flink.apache.org"
    versions = {v["name"]: (v["served"], v["storage"]) for v in crd["spec"]["versions"]}
    assert versions == {"v1beta1": (True, True)}
    assert "status" in crd["spec"]["versions"][0]["subresources"]


@pytest.mark.parametrize("path, type_", [
    ("spec.job.jarURI", "string"),
    ("spec.job.entryClass", "string"),
    ("spec.job.args", "array"),
    ("spec.job.state", "string"),
    ("spec.job.upgradeMode", "string"),
    ("spec.flinkConfiguration", "object"),
    ("status.lifecycleState", "string"),
    ("status.jobStatus.state", "string"),
])
def test_flinkdeployment_schema(crds, path, type_):
    assert _property(crds["FlinkDeployment"], "v1beta1", path)["type"] == type_


def test_flinkdeployment_enums(crds):
    crd = crds["FlinkDeployment"]
    assert set(_property(crd, "v1beta1", "spec.job.state")["enum"]) == {"running", "suspended"}
    assert {"stateless", "savepoint", "last-state"} <= set(_property(crd, "v1beta1", "spec.job.upgradeMode")["enum"])
    # Flink configuration values are strings in the schema: numbers are rejected.
    assert _property(crd, "v1beta1", "spec.flinkConfiguration")["additionalProperties"] == {"type": "string"}
