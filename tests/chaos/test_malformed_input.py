"""Malformed TDAJobs and TDAStreams are refused by the API server, with a message naming the field.

The corpus (malformed.yaml) covers wrong types, missing and unknown fields, out-of-range values,
oversize inline data, both input kinds at once, non-prime coefficients, windows smaller than
their slides, path tricks in URLs and edits of immutable fields. Every manifest is sent as
`kubectl apply` would (strict field validation); each must be refused before any operator sees it.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaos_report import record

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

GROUP, VERSION = "tda.io", "v1alpha1"
CORPUS = yaml.safe_load((Path(__file__).parent / "malformed.yaml").read_text())
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLURAL = {"tdajob": "tdajobs", "tdastream": "tdastreams"}
TRIANGLE = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]


def base(kind: str, name: str) -> dict[str, Any]:
    """A valid manifest of the kind; suspended, so a stored one runs nothing."""
    if kind == "tdajob":
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TDAJob", "metadata": {"name": name},
                "spec": {"input": {"inline": {"points": TRIANGLE}}, "computation": {"maxDimension": 1},
                         "suspend": True}}
    stream = yaml.safe_load((EXAMPLES / "tdastream.yaml").read_text())
    stream["metadata"] = {"name": name}
    stream["spec"]["suspend"] = True
    return stream


def with_changes(manifest: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The manifest with each dotted path set to its value (None removes the key)."""
    changed = copy.deepcopy(manifest)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = changed
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return changed


def edit_stored(custom, namespace: str, plural: str, name: str, changes: dict[str, Any]) -> None:
    """Replaces the stored object with ``changes`` made; the operator's status writes may come between."""
    from kubernetes.client.exceptions import ApiException

    for _ in range(20):
        stored = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        try:
            custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, plural, name,
                                                    with_changes(stored, changes), field_validation="Strict")
            return
        except ApiException as error:
            if error.status != 409:
                raise
    pytest.fail("the object kept changing under the edit")


CASES = [pytest.param(kind, case, id=f"{kind}-{case['name']}") for kind in PLURAL for case in CORPUS[kind]]


@pytest.fixture(scope="module")
def custom(api_client):
    from kubernetes import client

    return client.CustomObjectsApi(api_client)


@pytest.fixture(scope="module")
def corpus_namespace(api_client):
    import uuid

    from kubernetes import client

    core = client.CoreV1Api(api_client)
    name = f"malformed-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def test_the_corpus_is_large_and_every_case_names_its_field():
    assert len(CASES) >= 50
    for kind in PLURAL:
        names = [case["name"] for case in CORPUS[kind]]
        assert len(names) == len(set(names)), "case names are unique"
        assert all(case.get("field") and ("set" in case or "update" in case or "oversize_points" in case)
                   for case in CORPUS[kind])


@pytest.mark.parametrize(("kind", "case"), CASES)
def test_malformed_manifest_is_refused_naming_the_field(custom, corpus_namespace, kind, case):
    from kubernetes.client.exceptions import ApiException

    name = case["name"][:40]
    manifest = with_changes(base(kind, name), case.get("set", {}))
    if "oversize_points" in case:
        manifest["spec"]["input"]["inline"]["points"] = [[float(i), 0.0] for i in range(case["oversize_points"])]
    plural = PLURAL[kind]
    with pytest.raises(ApiException) as refused:
        if "update" in case:
            custom.create_namespaced_custom_object(GROUP, VERSION, corpus_namespace, plural, manifest,
                                                   field_validation="Strict")
            edit_stored(custom, corpus_namespace, plural, name, case["update"])
        else:
            custom.create_namespaced_custom_object(GROUP, VERSION, corpus_namespace, plural, manifest,
                                                   field_validation="Strict")
    record("bad_inputs", 1)
    assert refused.value.status in (400, 422), refused.value.status
    message = refused.value.body if isinstance(refused.value.body, str) else str(refused.value.body)
    assert case["field"] in message, f"the refusal does not name {case['field']}"
    record("bad_inputs_refused", 1)
