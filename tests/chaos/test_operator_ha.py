"""Two operator replicas with leader election: exactly one works; kill it and the other takes over.

The chart's operator Deployment is scaled to zero for the test; two `tda-operator run
--leader-election` processes run under the operator's ServiceAccount, with the Lease rights the
chart grants when it runs more than one replica. The standby reconciles nothing while the
leader lives (its reconciliation counter stays at zero); after the leader is SIGKILLed, the
standby takes the Lease and reconciles new TDAJobs, and every TDAJob succeeds with one child Job.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from chaos_report import record
from operator_control import operator_ready
from support import service_account_token, token_kubeconfig, wait_for

pytestmark = pytest.mark.chaos

GROUP, VERSION, PLURAL = "tda.io", "v1alpha1", "tdajobs"
LEASE = "tda-operator-ha-test"


class Replica:
    def __init__(self, kubeconfig, name: str, log_dir) -> None:
        from tda_dev.net import free_port

        self.name, self.port = name, free_port()
        env = dict(os.environ, KUBECONFIG=str(kubeconfig), POD_NAMESPACE="tda-system", HOSTNAME=name)
        self.log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - as long as the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tda_operator.cli", "run", "--all-namespaces", "--metrics-port", str(self.port),
             "--leader-election", LEASE], env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def reconciliations(self) -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return -1.0
        return sum(float(v) for v in re.findall(r'^tda_operator_reconciliations_total\{[^}]*\} ([0-9.e+]+)$',
                                                  text, re.MULTILINE))

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log.close()


def chart_leader_rbac() -> list[dict]:
    """The Role and RoleBinding the chart adds for leader election when it runs several replicas."""
    from tda_dev.binaries import ensure_binaries

    chart = Path(__file__).resolve().parents[2] / "charts" / "tda-platform"
    out = subprocess.run([str(ensure_binaries()["helm"]), "template", "tda", str(chart), "--namespace", "tda-system",
                          "--set", "operator.replicas=2", "--set", f"operator.leaderElectionLease={LEASE}",
                          "--show-only", "templates/operator-rbac.yaml"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    return [d for d in yaml.safe_load_all(out) if d and d["kind"] in ("Role", "RoleBinding")]


def scale_operator(api_client, replicas: int) -> None:
    from kubernetes import client

    client.AppsV1Api(api_client).patch_namespaced_deployment_scale(
        "tda-operator", "tda-system", {"spec": {"replicas": replicas}})


def tdajob(name: str) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TDAJob", "metadata": {"name": name},
            "spec": {"input": {"inline": {"points": [[0, 0], [1, 0], [0, 1], [1, 1]]}}}}


def test_one_of_two_replicas_leads_and_the_other_takes_over_when_it_is_killed(platform, api_client, namespace,
                                                                              tmp_path):
    from kubernetes import client

    custom = client.CustomObjectsApi(api_client)
    batch = client.BatchV1Api(api_client)
    leases = client.CoordinationV1Api(api_client)

    def phase(name: str) -> str | None:
        obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        return (obj.get("status") or {}).get("phase")

    def holder() -> str | None:
        try:
            return leases.read_namespaced_lease(LEASE, "tda-system").spec.holder_identity
        except client.exceptions.ApiException:
            return None

    from kubernetes import utils

    if platform.state_dir is None:
        pytest.skip("the chart's operator Deployment is scaled on the local platform only")
    rbac = chart_leader_rbac()
    for doc in rbac:
        utils.create_from_dict(api_client, doc)
    kubeconfig = token_kubeconfig(platform, service_account_token(client.CoreV1Api(api_client), "tda-system",
                                                                  "tda-operator"), tmp_path / "kubeconfig")
    scale_operator(api_client, 0)  # the chart's own replica would be a third, unelected one
    wait_for("the chart's operator pod to go", lambda: not client.CoreV1Api(api_client).list_namespaced_pod(
        "tda-system", label_selector="app.kubernetes.io/component=operator").items, timeout=60)
    replicas = {name: Replica(kubeconfig, name, tmp_path) for name in ("replica-a", "replica-b")}
    try:
        lead_name = wait_for("a leader", lambda: (h := holder()) and h.split("_")[0], timeout=60)
        leader_replica, standby = replicas[lead_name], next(r for n, r in replicas.items() if n != lead_name)
        first = [f"ha-first-{i}" for i in range(5)]
        for name in first:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, tdajob(name))
        wait_for("the first TDAJobs to succeed", lambda: all(phase(n) == "Succeeded" for n in first), timeout=300)
        assert leader_replica.reconciliations() > 0
        assert standby.reconciliations() == 0, "the standby must not reconcile while the leader lives"

        leader_replica.kill()
        killed = time.monotonic()
        second = f"ha-second-{uuid.uuid4().hex[:6]}"
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, tdajob(second))
        wait_for("the standby to reconcile a new TDAJob", lambda: phase(second) is not None, timeout=120, every=0.5)
        takeover = time.monotonic() - killed
        record("recovery_s", round(takeover, 1))
        assert holder() and holder().startswith(standby.name)
        wait_for("the new TDAJob to succeed", lambda: phase(second) == "Succeeded", timeout=300)
        owners = [ref.uid for job in batch.list_namespaced_job(namespace).items
                  for ref in (job.metadata.owner_references or []) if ref.kind == "TDAJob"]
        assert len(owners) == len(set(owners)) == len(first) + 1, "one child Job per TDAJob, none twice"
    finally:
        for replica in replicas.values():
            replica.kill()
        leases.delete_namespaced_lease(LEASE, "tda-system")
        rbac_api = client.RbacAuthorizationV1Api(api_client)
        for doc in rbac:
            delete = rbac_api.delete_namespaced_role if doc["kind"] == "Role" else rbac_api.delete_namespaced_role_binding
            delete(doc["metadata"]["name"], "tda-system")
        scale_operator(api_client, 1)
        operator_ready(platform)
