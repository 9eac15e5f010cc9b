"""The Helm chart: lint, what it renders for default and other values, what its schema refuses,
and the release `tda-dev up` installed on the local platform (its pods under its own
ServiceAccounts, RBAC that is enough for a TDAJob and no more than the code uses).
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "tda-platform"
EXAMPLES = REPO / "examples"
NAMESPACE = "tda-system"
OPERATOR_SA = f"system:serviceaccount:{NAMESPACE}:tda-operator"
API_SA = f"system:serviceaccount:{NAMESPACE}:tda-api"


@pytest.fixture(scope="module")
def bins() -> dict[str, Path]:
    from tda_dev.binaries import ensure_binaries

    return ensure_binaries()


def helm(bins, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(bins["helm"]), *args], capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}"
    return result


def render(bins, *sets: str) -> list[dict[str, Any]]:
    args = [a for s in sets for a in ("--set", s)]
    out = helm(bins, "template", "tda", str(CHART), "--namespace", NAMESPACE, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in of_kind(docs, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples a list of RBAC rules grants."""
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


# ------------------------------------------------------------------------------ rendering


def test_helm_lint_strict(bins):
    result = helm(bins, "lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in result.stdout


def test_default_release_objects(bins):
    docs = render(bins)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted([
        "CustomResourceDefinition", "CustomResourceDefinition", "ServiceAccount", "ServiceAccount",
        "ClusterRole", "ClusterRole", "ClusterRole", "ClusterRoleBinding", "ClusterRoleBinding",
        "ClusterRoleBinding", "Deployment", "Deployment", "Service", "Service",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]), kinds
    operator = named(docs, "Deployment", "tda-operator")
    assert operator["spec"]["replicas"] == 1 and operator["spec"]["strategy"] == {"type": "Recreate"}
    container = operator["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "liveness"}
    assert "--liveness=http://0.0.0.0:8081/healthz" in container["args"]
    assert "--all-namespaces" in container["args"]
    assert "TDA_OPERATOR_LEADER_ELECTION" not in {e["name"] for e in container["env"]}
    assert operator["spec"]["template"]["spec"]["serviceAccountName"] == "tda-operator"
    assert named(docs, "Deployment", "tda-api")["spec"]["template"]["spec"]["serviceAccountName"] == "tda-api"
    assert named(docs, "Service", "tda-api")["spec"]["ports"][0]["targetPort"] == "http"


def test_crds_are_the_generated_ones_kept_on_uninstall_unless_told(bins):
    from tda_operator import crd

    docs = of_kind(render(bins), "CustomResourceDefinition")
    generated = {c["metadata"]["name"]: c for c in crd.all_crds()}
    assert {d["metadata"]["name"] for d in docs} == set(generated)
    for doc in docs:
        assert doc["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
        assert doc["spec"] == generated[doc["metadata"]["name"]]["spec"]
    loose = of_kind(render(bins, "crds.keep=false"), "CustomResourceDefinition")
    assert loose and all("annotations" not in d["metadata"] for d in loose)
    assert not of_kind(render(bins, "crds.install=false"), "CustomResourceDefinition")


def test_worker_admission_policy_is_the_builders(bins):
    from tda_operator.builders import build_worker_admission_policy

    docs = render(bins)
    for expected in build_worker_admission_policy():
        rendered = named(docs, expected["kind"], expected["metadata"]["name"])
        assert rendered["spec"] == expected["spec"]
    assert not of_kind(render(bins, "workerAdmissionPolicy.enabled=false"), "ValidatingAdmissionPolicy")


def test_every_pod_and_container_meets_the_restricted_standard(bins):
    docs = render(bins, "operator.replicas=2", "api.autoscaling.enabled=true")
    deployments = of_kind(docs, "Deployment")
    assert len(deployments) == 2
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


#: The operator's rights, each with where the code needs it. Everything the operator writes is a
#: server-side apply (kube.apply: verb patch, and create when the apply makes the object); Events
#: are POSTed (kube.create_event).
OPERATOR_GRANTS = {
    ("tda.io", "tdajobs", "list"), ("tda.io", "tdajobs", "watch"),  # handlers.tdajob_event
    ("tda.io", "tdajobs", "get"),  # granted to the workers (builders.build_worker_rbac)
    ("tda.io", "tdastreams", "list"), ("tda.io", "tdastreams", "watch"),  # handlers.tdastream_event
    ("tda.io", "tdajobs/status", "patch"), ("tda.io", "tdastreams/status", "patch"),  # kube.apply_status
    ("batch", "jobs", "list"), ("batch", "jobs", "watch"),  # handlers.job_event
    ("batch", "jobs", "get"), ("batch", "jobs", "patch"), ("batch", "jobs", "create"),  # Reconciler._ensure_job
    ("", "pods", "list"), ("", "pods", "watch"),  # handlers.pod_event
    ("", "configmaps", "list"), ("", "configmaps", "watch"),  # handlers.record_event
    ("", "configmaps", "get"), ("", "configmaps", "create"),  # granted to the workers
    ("", "serviceaccounts", "patch"), ("", "serviceaccounts", "create"),  # Reconciler._ensure_worker_identity
    ("rbac.authorization.k8s.io", "roles", "patch"), ("rbac.authorization.k8s.io", "roles", "create"),
    ("rbac.authorization.k8s.io", "rolebindings", "patch"), ("rbac.authorization.k8s.io", "rolebindings", "create"),
    ("", "events", "create"), ("", "events", "list"), ("", "events", "watch"),  # _post_event, failed_create_event
    ("kafka.strimzi.io", "kafkatopics", "list"), ("kafka.strimzi.io", "kafkatopics", "watch"),
    ("kafka.strimzi.io", "kafkatopics", "patch"), ("kafka.strimzi.io", "kafkatopics", "create"),  # _ensure_topics
    ("flink.apache.org", "flinkdeployments", "list"), ("flink.apache.org", "flinkdeployments", "watch"),
    ("flink.apache.org", "flinkdeployments", "patch"),  # StreamReconciler._ensure_deployment
    ("flink.apache.org", "flinkdeployments", "create"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),  # kopf's resource observer
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
}
#: replicas > 1: leader election on one Lease (tda_operator.leader), in the release namespace.
LEADER_GRANTS = {("coordination.k8s.io", "leases", v) for v in ("get", "update", "create")}
API_GRANTS = {
    ("", "users", "impersonate"), ("", "groups", "impersonate"), ("", "serviceaccounts", "impersonate"),
    ("authentication.k8s.io", "tokenreviews", "create"), ("authorization.k8s.io", "subjectaccessreviews", "create"),
    ("tda.io", "tdajobs", "get"), ("tda.io", "tdajobs", "list"), ("tda.io", "tdajobs", "watch"),
    ("tda.io", "tdastreams", "get"), ("tda.io", "tdastreams", "list"), ("tda.io", "tdastreams", "watch"),
}


def test_operator_rbac_is_exactly_what_the_code_calls(bins):
    docs = render(bins)
    roles = [named(docs, "ClusterRole", "tda-operator"), named(docs, "ClusterRole", "tda-operator-cluster")]
    granted = grants([rule for role in roles for rule in role["rules"]])
    assert granted == OPERATOR_GRANTS
    assert not {g for g in granted if g[2] in ("delete", "deletecollection", "update", "*")}
    assert not {g for g in granted if g[1] in ("secrets", "namespaces", "*")}
    ha = render(bins, "operator.replicas=2")
    granted_ha = grants([r for n in ("tda-operator", "tda-operator-cluster") for r in named(ha, "ClusterRole", n)["rules"]])
    assert granted_ha == OPERATOR_GRANTS
    leader = named(ha, "Role", "tda-operator-leader")
    assert grants(leader["rules"]) == LEADER_GRANTS
    assert [r.get("resourceNames") for r in leader["rules"]] == [["tda-operator"], None]  # create cannot be named
    assert not of_kind(render(bins), "Role")


def test_facade_rbac_is_impersonation_reviews_and_its_cache(bins):
    assert grants(named(render(bins), "ClusterRole", "tda-api")["rules"]) == API_GRANTS


@pytest.mark.parametrize("example, roles", [
    ("operator.yaml", ["tda-operator", "tda-operator-cluster"]), ("api.yaml", ["tda-api"])])
def test_examples_rbac_agrees_with_the_chart(bins, example, roles):
    chart = render(bins)
    docs = [d for d in yaml.safe_load_all((EXAMPLES / "rbac" / example).read_text()) if d]
    for role in roles:
        assert grants(named(docs, "ClusterRole", role)["rules"]) == grants(named(chart, "ClusterRole", role)["rules"])
    bindings = {(b["metadata"]["name"], b["roleRef"]["name"], json.dumps(b["subjects"])) for b in of_kind(docs, "ClusterRoleBinding")}
    rendered = {(b["metadata"]["name"], b["roleRef"]["name"], json.dumps(b["subjects"]))
                for b in of_kind(chart, "ClusterRoleBinding") if b["roleRef"]["name"] in roles}
    assert bindings == rendered


def test_watched_namespaces_bind_the_namespaced_rights_per_namespace(bins):
    docs = render(bins, "operator.watchNamespaces={team-a,team-b}")
    bindings = of_kind(docs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    assert all(b["roleRef"]["name"] == "tda-operator" for b in bindings)
    assert [b["roleRef"]["name"] for b in of_kind(docs, "ClusterRoleBinding")
            if b["roleRef"]["name"].startswith("tda-operator")] == ["tda-operator-cluster"]
    args = named(docs, "Deployment", "tda-operator")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args and "--all-namespaces" not in args


def test_more_than_one_replica_elects_a_leader_and_standbys_stay_live(bins):
    docs = render(bins, "operator.replicas=3")
    assert named(docs, "Deployment", "tda-operator")["spec"]["replicas"] == 3
    container = named(docs, "Deployment", "tda-operator")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "TDA_OPERATOR_LEADER_ELECTION", "value": "tda-operator"} in container["env"]
    assert {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}} in container["env"]
    # A standby runs no kopf (so no kopf liveness endpoint) until it leads: liveness asks the metrics server.
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    binding = named(docs, "RoleBinding", "tda-operator-leader")
    assert binding["roleRef"]["name"] == "tda-operator-leader" and binding["subjects"][0]["name"] == "tda-operator"


def test_no_operator_and_no_facade(bins):
    kinds = {d["kind"] for d in render(bins, "operator.replicas=0", "api.enabled=false")}
    assert kinds == {"CustomResourceDefinition", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def test_facade_ingress_autoscaling_disruption_budget_and_network_policy(bins):
    assert not {"Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"} & {
        d["kind"] for d in render(bins)}
    docs = render(bins, "api.ingress.enabled=true", "api.ingress.className=nginx", "api.autoscaling.enabled=true",
                  "api.podDisruptionBudget.enabled=true", "networkPolicy.enabled=true")
    ingress = named(docs, "Ingress", "tda-api")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "tda-api"
    hpa = named(docs, "HorizontalPodAutoscaler", "tda-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "tda-api" and hpa["spec"]["minReplicas"] == 2
    assert "replicas" not in named(docs, "Deployment", "tda-api")["spec"]  # the HPA owns it
    assert named(docs, "PodDisruptionBudget", "tda-api")["spec"]["minAvailable"] == 1
    policies = {p["metadata"]["name"]: p for p in of_kind(docs, "NetworkPolicy")}
    assert set(policies) == {"tda-operator", "tda-api"}
    assert policies["tda-api"]["spec"]["ingress"] == [{"ports": [{"port": 8080}]}]


def _exported_metric_names() -> set[str]:
    """Every series name the operator and the facade export (counters with _total, histograms' parts)."""
    from tda_api import metrics as api_metrics
    from tda_operator import metrics as operator_metrics

    names = set()
    for registry in (operator_metrics.REGISTRY, getattr(api_metrics, "REGISTRY", None)):
        if registry is None:
            continue
        for family in registry.collect():
            kind, base = family.type, family.name
            names |= {f"{base}_total"} if kind == "counter" else {base}
            if kind == "histogram":
                names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    return names


def test_monitoring_objects_use_the_metrics_the_code_exports(bins):
    assert not {"ServiceMonitor", "PodMonitor", "PrometheusRule"} & {d["kind"] for d in render(bins)}
    docs = render(bins, "monitoring.enabled=true")
    assert {m["metadata"]["name"] for m in of_kind(docs, "ServiceMonitor")} == {"tda-operator", "tda-api"}
    rule = named(docs, "PrometheusRule", "tda")
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {"TDAJobFailureRateHigh", "TDAOperatorReconcileErrors", "TDAStreamLagging", "TDAStreamFailed"}
    dashboard = json.loads(named(docs, "ConfigMap", "tda-dashboard")["data"]["tda-platform.json"])
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"TDAJobs by phase", "Reconcile latency", "API latency (p95 by route)", "API requests by status",
            "Stream windows per second", "Stream change score (top 10 keys)"} <= titles
    expressions = list(alerts.values()) + [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for expr in expressions for name in re.findall(r"\b(tda_[a-z_]+)", expr)}
    exported = _exported_metric_names()
    assert used and used <= exported, used - exported
    # The Flink job's own metrics, through Flink's Prometheus reporter.
    flink = {name for expr in expressions for name in re.findall(r"\b(flink_[A-Za-z_]+)", expr)}
    assert any(n.endswith("_tdaWindows") for n in flink) and any(n.endswith("_tdaChangeScore") for n in flink)


@pytest.mark.parametrize("bad", [
    "operator.replicas=-1", "operator.replicas=many", "operator.metricsPort=70000", "operator.bogus=1",
    "api.service.type=Gateway", "image.pullPolicy=Sometimes", "monitoring.interval=often",
    "monitoring.jobFailureRatio=2", "crds.install=maybe", "unknownTopLevel=1",
    "operator.watchNamespaces={Not_A_Namespace}",
])
def test_schema_refuses_bad_values(bins, bad):
    result = helm(bins, "template", "tda", str(CHART), "--set", bad, check=False)
    assert result.returncode != 0 and "values don't meet the specifications of the schema" in result.stderr, bad


def _walk_values(values: dict[str, Any], schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of values.yaml keys the schema does not describe."""
    missing = []
    for key, value in values.items():
        sub = (schema.get("properties") or {}).get(key)
        if sub is None or not sub.get("description"):
            missing.append(path + key)
        elif isinstance(value, dict) and sub.get("properties"):
            missing += _walk_values(value, sub, f"{path}{key}.")
    return missing


def test_every_value_is_documented_and_described_by_the_schema():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert _walk_values(values, schema) == []
    # Every leaf key of values.yaml has a comment right above it or above one of its enclosing keys.
    lines = (CHART / "values.yaml").read_text().splitlines()
    ancestors: list[tuple[int, bool]] = []  # (indent, commented) of the enclosing keys
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z][A-Za-z0-9]*):(.*)$", line)
        if not m:
            continue
        indent = len(m.group(1))
        ancestors = [a for a in ancestors if a[0] < indent]
        above = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        commented = above.startswith("#") and not above.startswith("#  ")
        if not m.group(3).strip():  # a block: its keys may be documented one by one
            ancestors.append((indent, commented))
            continue
        assert commented or any(c for _, c in ancestors), f"values.yaml line {i + 1} ({m.group(2)}) is not documented"


# ------------------------------------------------------------------------------ installed on the platform


@pytest.fixture(scope="module")
def kubectl(platform, bins):
    if platform.external:
        pytest.skip("the chart as `tda-dev up` installs it: needs the local platform")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(bins["kubectl"]), "--kubeconfig", str(platform.kubeconfig), *args],
                                capture_output=True, text=True, timeout=120)
        if check:
            assert result.returncode == 0, f"kubectl {' '.join(args)}:\n{result.stderr}"
        return result

    return run


def test_the_platform_installed_the_chart_as_a_release(platform, bins, kubectl):
    releases = json.loads(helm(bins, "--kubeconfig", str(platform.kubeconfig), "list", "-n", NAMESPACE,
                               "-o", "json").stdout)
    assert [(r["name"], r["status"], r["chart"]) for r in releases] == [("tda", "deployed", "tda-platform-0.1.0")]
    pods = json.loads(kubectl("get", "pods", "-n", NAMESPACE, "-o", "json").stdout)["items"]
    by_component = {p["metadata"]["labels"].get("app.kubernetes.io/component"): p for p in pods
                    if p["status"].get("phase") == "Running"}
    assert by_component["operator"]["spec"]["serviceAccountName"] == "tda-operator"
    assert by_component["api"]["spec"]["serviceAccountName"] == "tda-api"
    for pod in by_component.values():
        assert all(c["ready"] for c in pod["status"]["containerStatuses"])
        # The node agent mounted the projected token of the chart's ServiceAccount.
        assert any(v.get("projected") for v in pod["spec"]["volumes"])


@pytest.mark.parametrize("user, verb, resource, allowed", [
    (OPERATOR_SA, "patch", "jobs.batch", True),
    (OPERATOR_SA, "watch", "pods", True),
    (OPERATOR_SA, "create", "events", True),
    (OPERATOR_SA, "patch", "tdajobs.tda.io/status", True),
    (OPERATOR_SA, "patch", "kafkatopics.kafka.strimzi.io", True),
    (OPERATOR_SA, "patch", "flinkdeployments.flink.apache.org", True),
    (OPERATOR_SA, "watch", "customresourcedefinitions.apiextensions.k8s.io", True),
    (OPERATOR_SA, "delete", "jobs.batch", False),
    (OPERATOR_SA, "create", "pods", False),
    (OPERATOR_SA, "get", "secrets", False),
    (OPERATOR_SA, "update", "tdajobs.tda.io", False),
    (OPERATOR_SA, "patch", "tdajobs.tda.io", False),
    (OPERATOR_SA, "list", "namespaces", False),
    (OPERATOR_SA, "delete", "flinkdeployments.flink.apache.org", False),
    (OPERATOR_SA, "create", "leases.coordination.k8s.io", False),  # one replica: no leader election
    (API_SA, "impersonate", "serviceaccounts", True),
    (API_SA, "create", "tokenreviews.authentication.k8s.io", True),
    (API_SA, "create", "subjectaccessreviews.authorization.k8s.io", True),
    (API_SA, "watch", "tdajobs.tda.io", True),
    (API_SA, "create", "tdajobs.tda.io", False),
    (API_SA, "get", "configmaps", False),
    (API_SA, "get", "secrets", False),
])
def test_installed_rbac_allows_and_denies(kubectl, user, verb, resource, allowed):
    subresource = []
    if "/" in resource:
        resource, sub = resource.split("/")
        subresource = [f"--subresource={sub}"]
    result = kubectl("auth", "can-i", verb, resource, *subresource, "-n", "default", f"--as={user}", check=False)
    assert result.stdout.strip() == ("yes" if allowed else "no"), (user, verb, resource, result.stderr)


def _refused_by_rbac(event: dict[str, Any]) -> bool:
    """A 403 for want of a right (not, say, a write into a namespace being deleted)."""
    status = event.get("responseStatus") or {}
    causes = [c.get("reason") for c in (status.get("details") or {}).get("causes") or []]
    return status.get("code") == 403 and "NamespaceTerminating" not in causes


def _audit(platform) -> list[dict[str, Any]]:
    log = Path(platform.state_dir) / "logs" / "audit.log"
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_an_example_tdajob_succeeds_under_the_charts_rbac_and_uses_its_rights(platform, kubectl):
    """Sufficient: an examples/ TDAJob Succeeds with no request of the operator refused. Minimal: every
    right of the operator is one it used here, or one a path this test does not take needs."""
    namespace = f"chart-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", namespace)
    started = datetime.now(UTC)
    try:
        kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "torus.yaml"))
        wait_for("the torus TDAJob to finish", lambda: kubectl(
            "get", "tdaj", "torus", "-n", namespace, "-o", "jsonpath={.status.phase}").stdout in ("Succeeded", "Failed"),
            timeout=300, every=1.0)
        assert kubectl("get", "tdaj", "torus", "-n", namespace, "-o", "jsonpath={.status.phase}").stdout == "Succeeded"
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")
    # Its watches began when it started: what it used is read from the whole log, refusals from this run.
    mine = [e for e in _audit(platform) if e["user"]["username"] == OPERATOR_SA]
    recent = [e for e in mine if datetime.fromisoformat(e["stageTimestamp"].replace("Z", "+00:00")) >= started]
    refused = [(e["verb"], e.get("objectRef")) for e in recent if _refused_by_rbac(e)]
    assert recent and not refused
    used = set()
    for e in mine:
        ref = e.get("objectRef") or {}
        if ref.get("resource"):
            resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            used.add((ref.get("apiGroup", ""), resource, e["verb"]))
            if e["verb"] == "patch" and (e.get("responseStatus") or {}).get("code") == 201:
                used.add((ref.get("apiGroup", ""), resource, "create"))  # an apply that made the object
    # Rights this run does not exercise, each needed on another path of the code.
    elsewhere = {
        ("tda.io", "tdajobs", "get"), ("", "configmaps", "get"), ("", "configmaps", "create"),  # granted to workers
        ("batch", "jobs", "get"),  # reading a Job back after a refused apply, or at start-up
        ("", "events", "list"),  # only when a Job cannot create its pods
        ("tda.io", "tdastreams/status", "patch"),  # TDAStreams
        ("kafka.strimzi.io", "kafkatopics", "patch"), ("flink.apache.org", "flinkdeployments", "patch"),
        ("kafka.strimzi.io", "kafkatopics", "create"), ("flink.apache.org", "flinkdeployments", "create"),
    }
    assert OPERATOR_GRANTS - used <= elsewhere, (OPERATOR_GRANTS - used) - elsewhere
    assert used <= OPERATOR_GRANTS, used - OPERATOR_GRANTS


def test_the_charts_facade_serves_the_demo_user(platform):
    import httpx
    from tda_dev import platform as local

    env = dict(line.removeprefix("export ").split("=", 1) for line in local.env_lines())
    url, token = env["TDA_API_URL"].strip("'"), env["TDA_API_TOKEN"].strip("'")
    with httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/readyz").status_code == 200
        assert http.get("/v1/namespaces/default/jobs").status_code == 401
        listed = http.get("/v1/namespaces/default/jobs", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200 and "items" in listed.json()
        refused = http.get("/v1/namespaces/kube-system/jobs", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 403


def test_the_stack_chart_brings_the_stream_operators_from_their_official_repositories():
    platform_chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert "dependencies" not in platform_chart  # so tda-platform installs without network access
    stack = yaml.safe_load((REPO / "charts" / "tda-stack" / "Chart.yaml").read_text())
    deps = {d["name"]: d for d in stack["dependencies"]}
    assert deps["tda-platform"] == {"name": "tda-platform", "version": platform_chart["version"],
                                    "repository": "file://../tda-platform"}
    assert deps["strimzi-kafka-operator"]["repository"] == "oci://quay.io/strimzi-helm"
    assert deps["flink-kubernetes-operator"]["repository"].startswith("https://downloads.apache.org/flink/")
    values = yaml.safe_load((REPO / "charts" / "tda-stack" / "values.yaml").read_text())
    for name in ("strimzi-kafka-operator", "flink-kubernetes-operator"):
        assert deps[name]["condition"] == f"{name}.enabled" and values[name]["enabled"] is True
