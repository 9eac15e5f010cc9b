"""The CRDs in crds/ and the chart are generated from the models and must not drift."""

from __future__ import annotations

import json

import pytest
import yaml
from tda_operator import crd

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("out_dir", [crd.DEFAULT_OUT, crd.DEFAULT_CHART_OUT], ids=["crds", "chart"])
def test_generated_crds_are_up_to_date(out_dir):
    for name, expected in crd.rendered_files().items():
        path = out_dir / name
        assert path.exists(), f"{path} missing: run `make crds`"
        assert path.read_text() == expected, f"{path} is stale: run `make crds`"


def test_chart_worker_admission_policy_is_up_to_date():
    path = crd.DEFAULT_CHART_FILES / crd.WORKER_POLICY_FILE
    assert path.exists(), f"{path} missing: run `make crds`"
    assert path.read_text() == crd.render_worker_policy(), f"{path} is stale: run `make crds`"


def test_chart_has_no_crds_dir_helm_would_install_untemplated():
    # CRDs are templates (crds.install, crds.keep); Helm's crds/ directory would bypass both.
    assert not (crd.REPO_ROOT / "charts" / "tda-platform" / "crds").exists()


def _walk(schema, path="$"):
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("make", [crd.tdajob_crd, crd.tdastream_crd])
def test_schema_is_structural(make):
    document = make()
    schema = document["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert "$ref" not in json.dumps(schema) and "$defs" not in json.dumps(schema)
    for path, node in _walk(schema):
        assert "type" in node or node.get("x-kubernetes-int-or-string"), f"{path} has no type"
        assert "title" not in node and "uniqueItems" not in node, path
        assert node.get("default", 0) is not None, f"{path} has a null default"
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string"), f"{path}: anyOf outside int-or-string"
        if node.get("additionalProperties") is not None:
            assert "properties" not in node, path
        assert not isinstance(node.get("exclusiveMinimum"), int | float) or isinstance(
            node.get("exclusiveMinimum"), bool
        ), path
    for path, node in _walk(schema["properties"]["spec"]):
        if path != "$" and not path.endswith("[]"):  # list items are explained by their list
            assert node.get("description"), f"spec field {path} lacks a description (kubectl explain)"


def test_tdajob_crd_names_and_columns():
    document = crd.tdajob_crd()
    spec = document["spec"]
    assert document["metadata"]["name"] == "tdajobs.tda.io"
    assert spec["group"] == "tda.io" and spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["tdaj"] and spec["names"]["categories"] == ["tda"]
    version = spec["versions"][0]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    for wanted in ("Phase", "Datasets", "Progress", "Age"):
        assert wanted in columns


def test_tdastream_crd_names():
    spec = crd.tdastream_crd()["spec"]
    assert spec["names"]["plural"] == "tdastreams" and spec["names"]["shortNames"] == ["tdas"]


def test_cel_rules_for_one_of_and_immutability():
    spec = crd.tdajob_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    input_rules = [r["rule"] for r in spec["properties"]["input"]["x-kubernetes-validations"]]
    assert any("size() == 1" in r for r in input_rules)
    assert "self == oldSelf" in input_rules
    assert "self == oldSelf" in [r["rule"] for r in spec["properties"]["computation"]["x-kubernetes-validations"]]


def test_rendered_yaml_round_trips():
    for text in crd.rendered_files().values():
        assert text.startswith("# GENERATED")
        assert yaml.safe_load(text)["kind"] == "CustomResourceDefinition"


def test_write_creates_the_files(tmp_path):
    written = crd.write([tmp_path])
    assert sorted(p.name for p in written) == ["tdajobs.tda.io.yaml", "tdastreams.tda.io.yaml"]


def test_cli_writes_crds(tmp_path):
    from tda_operator.cli import main

    assert main(["crds", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "tdajobs.tda.io.yaml").exists()


def test_immutable_objects_are_defaulted_so_old_self_always_exists():
    """A transition rule only runs when the old object has the field: default it at creation."""
    spec = crd.tdajob_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["computation"]["default"] == {}
    assert spec["properties"]["computation"]["properties"]["features"]["default"] == ["diagrams"]
    rules = [r["rule"] for r in spec["x-kubernetes-validations"]]
    assert any("oldSelf.shards" in r for r in rules) and any("oldSelf.resources" in r for r in rules)
