"""Two operator replicas with leader election: exactly one works; kill it and the other takes over.

The platform's own operator is stopped for the test; two `tda-operator run --leader-election`
processes run under the operator's ServiceAccount. The standby reconciles nothing while the
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

import pytest
from chaos_report import record
from operator_control import kill_operator, operator_ready
from support import wait_for

pytestmark = pytest.mark.chaos

GROUP, VERSION, PLURAL = "tda.io", "v1alpha1", "tdajobs"
LEASE = "tda-operator-ha-test"


class Replica:
    def __init__(self, platform, name: str, log_dir) -> None:
        from tda_dev.net import free_port

        self.name, self.port = name, free_port()
        env = dict(os.environ, KUBECONFIG=str(platform.state_dir / "operator.kubeconfig"),
                   POD_NAMESPACE="tda-system", HOSTNAME=name)
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

    kill_operator(platform)  # the platform's own replica would be a third, unelected one
    replicas = {name: Replica(platform, name, tmp_path) for name in ("replica-a", "replica-b")}
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
        client.CoordinationV1Api(api_client).delete_namespaced_lease(LEASE, "tda-system")
        operator_ready(platform)
