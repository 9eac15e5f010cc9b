"""The local control plane is a real Kubernetes: real version, kubectl, CRDs."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml
from kubernetes import client
from tda_dev import paths
from tda_dev.binaries import ensure_binaries, versions

pytestmark = pytest.mark.integration


def _kubectl(platform, *args: str) -> str:
    cmd = [str(ensure_binaries()["kubectl"]), "--kubeconfig", str(platform.kubeconfig), *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout


def test_server_reports_its_real_version(platform, api_client):
    info = client.VersionApi(api_client).get_code()
    assert info.git_version.startswith("v1.")
    assert int(info.major) == 1 and int(info.minor.rstrip("+")) >= 30
    if not platform.external:
        assert info.git_version == versions()["kubernetes"]


def test_kubectl_talks_to_the_server(platform):
    version = json.loads(_kubectl(platform, "version", "-o", "json"))
    assert version["clientVersion"]["gitVersion"].startswith("v1.")
    assert version["serverVersion"]["gitVersion"].startswith("v1.")
    assert "kube-system" in _kubectl(platform, "get", "namespaces", "-o", "name")


def test_controllers_run(platform, namespace, api_client):
    """The service-account controller (controller-manager) fills a new namespace."""
    core = client.CoreV1Api(api_client)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(sa.metadata.name == "default" for sa in core.list_namespaced_service_account(namespace).items):
            return
        time.sleep(0.5)
    pytest.fail("no default ServiceAccount: is kube-controller-manager running?")


def test_our_crds_are_established(platform, api_client):
    files = sorted(paths.CRDS_DIR.glob("*.yaml"))
    if not files:
        pytest.skip("crds/ is empty")

    names = [d["metadata"]["name"] for f in files for d in yaml.safe_load_all(f.read_text()) if d]
    ext = client.ApiextensionsV1Api(api_client)
    for name in names:
        crd = ext.read_custom_resource_definition(name)
        conditions = {c.type: c.status for c in crd.status.conditions or []}
        assert conditions.get("Established") == "True", name
