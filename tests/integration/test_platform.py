"""The local platform runs pods for real: Jobs, garbage collection, RBAC with a pod's own token.

Pods here run on the local node agent (tda_dev.node_agent): the container's
command runs as a local process, so `python3` is the project's interpreter.
On an existing cluster (TDA_KUBECONFIG) the same objects run in real
containers of IMAGE; tests that need the node agent itself are skipped there.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest
from support import wait_for

pytestmark = pytest.mark.integration

IMAGE = "python:3.11-slim"
NODE = "tda-local"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _local_only(platform) -> None:
    if getattr(platform, "external", False):
        pytest.skip("checks the local node agent itself")


@pytest.fixture
def core(api_client):
    from kubernetes import client

    return client.CoreV1Api(api_client)


@pytest.fixture
def namespace(namespace, core):
    """The shared fresh namespace, once its default ServiceAccount exists (pods need it)."""
    wait_for("the default ServiceAccount",
          lambda: any(sa.metadata.name == "default"
                      for sa in core.list_namespaced_service_account(namespace).items), timeout=30)
    return namespace


@pytest.fixture
def batch(api_client):
    from kubernetes import client

    return client.BatchV1Api(api_client)


def _pod(name: str, script: str, **extra: Any) -> dict[str, Any]:
    container = {"name": "main", "image": IMAGE, "command": ["python3", "-c", script]}
    container.update(extra.pop("container", {}))
    spec = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 5, "containers": [container]}
    spec.update(extra)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _finished_pod(core, namespace: str, name: str, timeout: float = 90.0):
    def done():
        pod = core.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase in ("Succeeded", "Failed") else None

    return wait_for(f"pod {name} to finish", done, timeout)


def _terminated(pod):
    statuses = pod.status.container_statuses or []
    assert statuses, f"no container status on {pod.metadata.name}: {pod.status}"
    term = statuses[0].state.terminated
    assert term is not None, f"container of {pod.metadata.name} not terminated: {statuses[0].state}"
    return term


# --- the node ------------------------------------------------------------------------


def test_node_is_registered_ready_with_the_machine_capacity(platform, core, api_client):
    _local_only(platform)
    from kubernetes import client

    node = core.read_node(NODE)
    ready = {c.type: c for c in node.status.conditions}["Ready"]
    assert ready.status == "True"
    assert node.metadata.labels["kubernetes.io/hostname"] == NODE
    assert node.metadata.labels["kubernetes.io/os"] == "linux"
    assert node.status.allocatable["cpu"] == str(len(os.sched_getaffinity(0)))
    assert node.status.allocatable["pods"] == "110"
    assert not [t for t in node.spec.taints or [] if t.key == "node.kubernetes.io/not-ready"]

    leases = client.CoordinationV1Api(api_client)
    first = leases.read_namespaced_lease(NODE, "kube-node-lease").spec.renew_time
    renewed = wait_for("the node lease to be renewed",
                    lambda: leases.read_namespaced_lease(NODE, "kube-node-lease").spec.renew_time != first,
                    timeout=30)
    assert renewed


# --- Jobs ----------------------------------------------------------------------------


def test_plain_job_completes_on_the_local_node(platform, namespace, core, batch):
    name = _name("hello")
    batch.create_namespaced_job(namespace, {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "hello", "image": IMAGE,
                            "command": ["python3", "-c", "print(sum(range(10)))"]}]}}}})

    def complete():
        status = batch.read_namespaced_job_status(name, namespace).status
        conditions = {c.type: c.status for c in status.conditions or []}
        assert conditions.get("Failed") != "True", f"job failed: {status}"
        return conditions.get("Complete") == "True" and status

    status = wait_for("the Job to complete", complete, timeout=120)
    assert status.succeeded == 1
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
    assert [p.status.phase for p in pods] == ["Succeeded"]
    if not getattr(platform, "external", False):
        assert pods[0].spec.node_name == NODE
        term = _terminated(pods[0])
        assert (term.exit_code, term.reason) == (0, "Completed")


def test_indexed_job_pods_get_their_completion_index(platform, namespace, core, batch):
    name = _name("indexed")
    script = "import os; open('/dev/termination-log', 'w').write(os.environ['JOB_COMPLETION_INDEX'])"
    batch.create_namespaced_job(namespace, {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"completions": 3, "parallelism": 3, "completionMode": "Indexed", "backoffLimit": 0,
                 "template": {"spec": {"restartPolicy": "Never", "containers": [
                     {"name": "work", "image": IMAGE, "command": ["python3", "-c", script]}]}}}})
    wait_for("the indexed Job to complete",
          lambda: (batch.read_namespaced_job_status(name, namespace).status.succeeded or 0) == 3, timeout=120)
    pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
    assert sorted(_terminated(p).message for p in pods) == ["0", "1", "2"]


# --- garbage collection ------------------------------------------------------------


def test_deleting_an_owner_collects_what_it_owns(namespace, core):
    from kubernetes.client.exceptions import ApiException

    owner = core.create_namespaced_config_map(namespace, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}, "data": {"a": "1"}})
    core.create_namespaced_config_map(namespace, {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "owned", "ownerReferences": [{
            "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}]},
        "data": {"b": "2"}})
    core.delete_namespaced_config_map("owner", namespace, propagation_policy="Background")

    def collected():
        try:
            core.read_namespaced_config_map("owned", namespace)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for("the garbage collector to delete the owned ConfigMap", collected, timeout=60)


# --- RBAC with the pod's own service account -----------------------------------------


RBAC_PROBE = """
import json, sys
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
config.load_incluster_config()
ns = open('/var/run/secrets/kubernetes.io/serviceaccount/namespace').read()
core = client.CoreV1Api()
result = {}
for kind, call in (('configmaps', core.list_namespaced_config_map), ('secrets', core.list_namespaced_secret)):
    try:
        call(ns)
        result[kind] = 200
    except ApiException as e:
        result[kind] = e.status
open('/dev/termination-log', 'w').write(json.dumps(result))
sys.exit(0 if result == {'configmaps': 200, 'secrets': 403} else 1)
"""


def test_in_cluster_client_gets_exactly_its_service_accounts_rights(platform, namespace, core, api_client):
    _local_only(platform)  # the probe needs the kubernetes client, which IMAGE lacks
    from kubernetes import client

    rbac = client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}})
    rbac.create_namespaced_role(namespace, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "cm-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "cm-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}]})
    name = _name("rbac")
    core.create_namespaced_pod(namespace, _pod(name, RBAC_PROBE, serviceAccountName="reader"))
    pod = _finished_pod(core, namespace, name)
    term = _terminated(pod)
    assert json.loads(term.message) == {"configmaps": 200, "secrets": 403}
    assert term.exit_code == 0 and pod.status.phase == "Succeeded"


# --- what the node agent gives a container -------------------------------------------


ENV_AND_VOLUMES = """
import json, os, sys
result = {
    'greeting': open('/etc/tda/greeting.txt').read(),
    'mode': oct(os.stat('/etc/tda/greeting.txt').st_mode & 0o777),
    'from_key': os.environ['FROM_KEY'],
    'pod': os.environ['POD_NAME'],
    'ns': os.environ['POD_NAMESPACE'],
    'label': os.environ['TIER'],
    'expanded': os.environ['EXPANDED'],
    'arg': os.environ['ARG'],
    'argv': sys.argv[1:],
    'cwd': os.getcwd(),
    'scratch': os.access('/scratch', os.W_OK),
}
try:
    open('/etc/tda/new', 'w')
    result['read_only'] = False
except OSError:
    result['read_only'] = True
open('/dev/termination-log', 'w').write(json.dumps(result))
"""


def test_container_gets_env_volumes_and_termination_message(platform, namespace, core):
    core.create_namespaced_config_map(namespace, {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
        "data": {"greeting": "hello", "key": "value"}})
    name = _name("env")
    pod = _pod(name, "", container={
        "command": ["python3", "-c", ENV_AND_VOLUMES],
        "args": ["$(POD_NAME)"],
        "workingDir": "/work-here",
        "env": [
            {"name": "FROM_KEY", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "key"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "TIER", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['tier']"}}},
            {"name": "EXPANDED", "value": "$(POD_NAME)/$(FROM_KEY)/$$(NOT)"},
            {"name": "ARG", "value": "$(UNDEFINED)"},
        ],
        "volumeMounts": [{"name": "settings", "mountPath": "/etc/tda", "readOnly": True},
                         {"name": "scratch", "mountPath": "/scratch"}],
    }, volumes=[
        {"name": "settings", "configMap": {"name": "settings", "defaultMode": 0o440,
                                            "items": [{"key": "greeting", "path": "greeting.txt"}]}},
        {"name": "scratch", "emptyDir": {}},
    ])
    pod["metadata"]["labels"] = {"tier": "backend"}
    core.create_namespaced_pod(namespace, pod)
    done = _finished_pod(core, namespace, name)
    term = _terminated(done)
    assert done.status.phase == "Succeeded", term
    assert json.loads(term.message) == {
        "greeting": "hello", "mode": "0o440", "from_key": "value", "pod": name, "ns": namespace,
        "label": "backend", "expanded": f"{name}/value/$(NOT)", "arg": "$(UNDEFINED)", "argv": [name],
        "cwd": "/work-here", "scratch": True, "read_only": True,
    }
    if not getattr(platform, "external", False):
        assert done.status.pod_ip == "127.0.0.1"
        assert not os.path.exists("/work-here"), "the container's mount points leaked onto the host"
        assert {c.type: c.status for c in done.status.conditions}["Ready"] == "False"


def test_failed_container_reports_exit_code_and_falls_back_to_its_log(namespace, core):
    name = _name("fail")
    core.create_namespaced_pod(namespace, _pod(
        name, "import sys; print('something went wrong', file=sys.stderr); sys.exit(3)",
        container={"terminationMessagePolicy": "FallbackToLogsOnError"}))
    pod = _finished_pod(core, namespace, name)
    term = _terminated(pod)
    assert pod.status.phase == "Failed"
    assert (term.exit_code, term.reason) == (3, "Error")
    assert "something went wrong" in term.message
    assert "something went wrong" in core.read_namespaced_pod_log(name, namespace)  # `kubectl logs`
    assert term.started_at is not None and term.finished_at is not None


def test_pods_of_negative_priority_run_on_idle_cpu_only(namespace, core, api_client):
    """The local node's stand-in for a control plane on machines of its own: such pods run
    under SCHED_IDLE; every other pod under the normal policy."""
    from kubernetes import client

    scheduling = client.SchedulingV1Api(api_client)
    low = _name("background")
    scheduling.create_priority_class({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                      "metadata": {"name": low}, "value": -5, "preemptionPolicy": "Never"})
    try:
        script = "import os; print('policy', os.sched_getscheduler(0) == os.SCHED_IDLE)"
        names = {_name("idle"): True, _name("normal"): False}
        for name, background in names.items():
            core.create_namespaced_pod(namespace, _pod(name, script, **({"priorityClassName": low} if background else {})))
        for name, background in names.items():
            assert _finished_pod(core, namespace, name).status.phase == "Succeeded"
            assert f"policy {background}" in core.read_namespaced_pod_log(name, namespace)
    finally:
        scheduling.delete_priority_class(low)


def test_on_failure_pod_is_restarted_until_it_succeeds(namespace, core):
    script = ("import os, sys\n"
              "if os.path.exists('/state/tried'): sys.exit(0)\n"
              "open('/state/tried', 'w').close(); sys.exit(1)\n")
    name = _name("retry")
    core.create_namespaced_pod(namespace, _pod(
        name, script, restartPolicy="OnFailure",
        container={"volumeMounts": [{"name": "state", "mountPath": "/state"}]},
        volumes=[{"name": "state", "emptyDir": {}}]))
    pod = _finished_pod(core, namespace, name, timeout=120)
    assert pod.status.phase == "Succeeded"
    status = pod.status.container_statuses[0]
    assert status.restart_count == 1
    assert status.last_state.terminated.exit_code == 1


def test_active_deadline_fails_the_pod(namespace, core):
    name = _name("deadline")
    core.create_namespaced_pod(namespace, _pod(name, "import time; time.sleep(600)", activeDeadlineSeconds=3))
    pod = _finished_pod(core, namespace, name, timeout=60)
    assert pod.status.phase == "Failed"
    assert pod.status.reason == "DeadlineExceeded"


def test_deleting_a_running_pod_stops_it(platform, namespace, core):
    from kubernetes.client.exceptions import ApiException

    name = _name("sleeper")
    script = f"import time; time.sleep(600)  # {name}"
    core.create_namespaced_pod(namespace, _pod(name, script))
    wait_for("the pod to run", lambda: core.read_namespaced_pod(name, namespace).status.phase == "Running")
    core.delete_namespaced_pod(name, namespace, grace_period_seconds=3)

    def gone():
        try:
            core.read_namespaced_pod(name, namespace)
        except ApiException as e:
            return e.status == 404
        return False

    wait_for("the pod to be deleted", gone, timeout=30)
    if not getattr(platform, "external", False):
        assert not _processes_mentioning(name), "the pod's process outlived the pod"


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_a_claim_keeps_its_data_across_pods(namespace, core):
    core.create_namespaced_persistent_volume_claim(namespace, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    volume = {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
              "container": {"volumeMounts": [{"name": "data", "mountPath": "/data"}]}}
    core.create_namespaced_pod(namespace, _pod("writer", "open('/data/note', 'w').write('kept')", **volume))
    assert _finished_pod(core, namespace, "writer").status.phase == "Succeeded"
    core.create_namespaced_pod(namespace, _pod(
        "reader", "open('/dev/termination-log', 'w').write(open('/data/note').read())", **volume))
    reader = _finished_pod(core, namespace, "reader")
    assert _terminated(reader).message == "kept"


def test_readiness_follows_the_probe(namespace, core):
    import socket

    with socket.socket() as s:  # pods share the host's network here: pick a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    name = _name("probed")
    core.create_namespaced_pod(namespace, _pod(
        name, f"import time, http.server; time.sleep(5); "
              f"http.server.HTTPServer(('', {port}), http.server.SimpleHTTPRequestHandler).serve_forever()",
        restartPolicy="Always",
        container={"ports": [{"name": "http", "containerPort": port}],
                   "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}}))

    def ready() -> bool | None:
        pod = core.read_namespaced_pod(name, namespace)
        conditions = {c.type: c.status for c in pod.status.conditions or []}
        running = pod.status.phase == "Running" and pod.status.container_statuses[0].state.running
        return (conditions.get("Ready") == "True") if running else None

    wait_for("the pod to run", lambda: ready() is not None)
    assert ready() is False, "ready before its probe could pass"
    wait_for("the readiness probe to pass", ready, timeout=60)
