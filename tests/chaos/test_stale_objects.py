"""Objects the API server lets through but the models cannot read never stop the operator.

An object stored under an older (looser) schema is simulated the way it happens: the CRD's
spec schema is loosened, objects that break today's schema are stored, and the CRD is put
back. The operator must mark each of them Failed, naming the fields at fault and never
their values, and go on running everything else.
"""

from __future__ import annotations

import copy
import uuid

import pytest
from support import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

GROUP, VERSION = "tda.io", "v1alpha1"
MARKER = "hostile-marker-7f3a"
STALE = {
    "tdajobs": [
        ({"input": {"inline": {"points": [[0, 0], [1, 1]]}}, "computation": {"maxDimension": MARKER}},
         "spec.computation.maxDimension"),
        ({"input": {"inline": {"points": MARKER}}}, "spec.input.inline.points"),
        ({"computation": {"coefficient": 4}, "legacyField": MARKER}, "spec.input"),
    ],
    "tdastreams": [
        ({"kafka": {"clusterRef": "c", "input": {"topic": "a"}, "output": {"topic": "b"}},
          "window": {"type": MARKER}}, "spec.window.type"),
    ],
}
KINDS = {"tdajobs": "TDAJob", "tdastreams": "TDAStream"}


@pytest.fixture
def loosened(api_client):
    """Yields a function that loosens a CRD's spec schema; every CRD is put back afterwards."""
    from kubernetes import client

    extensions = client.ApiextensionsV1Api(api_client)
    originals: dict[str, dict] = {}

    def loosen(plural: str) -> None:
        name = f"{plural}.{GROUP}"
        crd = api_client.sanitize_for_serialization(extensions.read_custom_resource_definition(name))
        originals[name] = copy.deepcopy(crd)
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        schema["properties"]["spec"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        extensions.replace_custom_resource_definition(name, crd)

    yield loosen
    for name, crd in originals.items():
        current = extensions.read_custom_resource_definition(name)
        crd["metadata"]["resourceVersion"] = current.metadata.resource_version
        extensions.replace_custom_resource_definition(name, crd)


def test_objects_of_an_older_schema_are_failed_naming_fields_and_the_operator_runs_on(api_client, namespace, loosened):
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    custom = client.CustomObjectsApi(api_client)
    stored: list[tuple[str, str, str]] = []
    for plural, cases in STALE.items():
        loosened(plural)
        for i, (spec, field) in enumerate(cases):
            name = f"stale-{i}"
            body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KINDS[plural], "metadata": {"name": name},
                    "spec": spec}
            wait_for("the looser schema to be served", lambda b=body, p=plural: _created(custom, namespace, p, b),
                     timeout=30)
            stored.append((plural, name, field))

    def failed_naming(plural: str, name: str, field: str) -> bool:
        try:
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        except ApiException:
            return False
        status = obj.get("status") or {}
        return status.get("phase") == "Failed" and field in (status.get("message") or "")

    for plural, name, field in stored:
        wait_for(f"{plural}/{name} to be Failed naming {field}", lambda p=plural, n=name, f=field: failed_naming(p, n, f),
                 timeout=120)
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        assert MARKER not in str(obj["status"])

    # ... and a valid TDAJob afterwards runs as ever.
    fresh = f"fresh-{uuid.uuid4().hex[:6]}"
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tdajobs", {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "TDAJob", "metadata": {"name": fresh},
        "spec": {"input": {"inline": {"points": [[0, 0], [1, 0], [0, 1]]}}}})
    wait_for("a fresh TDAJob to succeed", lambda: (custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "tdajobs", fresh).get("status") or {}).get("phase") == "Succeeded", timeout=300)


def _created(custom, namespace: str, plural: str, body: dict) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
        return True
    except ApiException as error:
        if error.status == 409:
            return True
        if error.status in (400, 422):
            return False  # the API server still validates with the old schema for a moment
        raise
