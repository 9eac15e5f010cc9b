"""The operator and the REST facade on the local platform, installed by the Helm chart.

`tda-dev up` ends with ``helm upgrade --install tda charts/tda-platform -n tda-system``
(values: ``dev/chart-values.yaml`` and this platform's ports). The chart's CRDs, RBAC,
admission policy and Deployments are the ones a cluster gets; the node agent runs the
Deployments' pods as local processes under the chart's ServiceAccounts (their projected
tokens), so every test exercises the chart's RBAC, never the admin kubeconfig. Pods share
the host's network, so the chart's ports are loopback ports chosen for this platform.

``TDA_DEV_OPERATOR=0`` installs no operator (``operator.replicas=0``), e.g. to run one from a
debugger; ``TDA_DEV_API=0`` installs no facade. ``tda-dev env`` prints the facade's URL and a
token of ``default/tda-demo``, a ServiceAccount that may use TDAJobs and TDAStreams in
``default`` (``dev/demo-user.yaml``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from . import kafka, paths
from .net import LOOPBACK
from .node_agent.sandbox import start_ticks

RELEASE = "tda"
NAMESPACE = "tda-system"
CHART = paths.REPO_ROOT / "charts" / "tda-platform"
DEV_VALUES = paths.REPO_ROOT / "dev" / "chart-values.yaml"
DEMO_USER_MANIFEST = paths.REPO_ROOT / "dev" / "demo-user.yaml"
DEMO_NAMESPACE, DEMO_SERVICE_ACCOUNT = "default", "tda-demo"
OPERATOR_DEPLOYMENT, API_DEPLOYMENT = "tda-operator", "tda-api"
OPERATOR_CONTAINER = "operator"
#: Port names (``ctx.port``): the operator's metrics, its kopf liveness endpoint, the facade.
OPERATOR_PORT, LIVENESS_PORT, API_PORT = "tda-operator", "tda-operator-liveness", "tda-api"
#: A laptop-sized download cap (clusters keep the chart's 1 GiB default).
LOCAL_MAX_DOWNLOAD_BYTES = 64 * 1024**2
COMPONENT = "tda-chart"


def operator_enabled() -> bool:
    return os.environ.get("TDA_DEV_OPERATOR", "1") != "0"


def api_enabled() -> bool:
    return os.environ.get("TDA_DEV_API", "1") != "0"


def platform_values(ctx: Any) -> dict[str, Any]:
    """What only this platform knows: its ports, its broker, which parts to run."""
    max_download = int(os.environ.get("TDA_OPERATOR_MAX_DOWNLOAD_BYTES", LOCAL_MAX_DOWNLOAD_BYTES))
    api: dict[str, Any] = {"enabled": api_enabled()}
    if api_enabled():
        api.update(host=LOOPBACK, port=ctx.port(API_PORT),
                   # The stream outputs' in-cluster bootstrap addresses stand for the local broker.
                   env=[{"name": "TDA_API_KAFKA_BOOTSTRAP", "value": kafka.bootstrap(ctx)}])
    return {
        "operator": {
            "replicas": 1 if operator_enabled() else 0,
            "metricsPort": ctx.port(OPERATOR_PORT),
            "livenessPort": ctx.port(LIVENESS_PORT),
            "maxDownloadBytes": max_download,
        },
        "api": api,
    }


def _digest(values: dict[str, Any]) -> str:
    """Changes when the chart, the dev values or this platform's values do: then `up` upgrades."""
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode())
    for path in sorted(p for p in [*CHART.rglob("*"), DEV_VALUES, DEMO_USER_MANIFEST] if p.is_file()):
        digest.update(path.relative_to(paths.REPO_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def helm(ctx: Any, *args: str) -> subprocess.CompletedProcess[str]:
    from .platform import PlatformError

    cmd = [str(ctx.bins["helm"]), "--kubeconfig", str(ctx.kubeconfig), *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise PlatformError(f"helm {' '.join(args[:3])} failed:\n{result.stderr.strip()}")
    return result


def install(ctx: Any) -> None:
    """``helm upgrade --install`` of the chart, then the demo user."""
    values = platform_values(ctx)
    values_file = ctx.path("chart-values.json")
    values_file.write_text(json.dumps(values, indent=2))
    # --take-ownership: a platform brought up before the chart managed these objects adopts them.
    helm(ctx, "upgrade", "--install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace",
         "--take-ownership", "-f", str(DEV_VALUES), "-f", str(values_file))
    ctx.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(DEMO_USER_MANIFEST))
    ctx.state["chart"] = _digest(values)


def _deployment_ready(ctx: Any, name: str) -> bool:
    deployment = ctx.api_get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}")
    status, wanted = deployment.get("status") or {}, (deployment.get("spec") or {}).get("replicas", 1)
    # Rolled out: the current generation seen, every pod of the new template ready, no old pod left.
    return bool(status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
                and status.get("updatedReplicas", 0) == status.get("readyReplicas", 0) == wanted
                and status.get("replicas", 0) == wanted)


def ready(ctx: Any) -> bool:
    """Installed with today's chart and values, and each Deployment's pods ready."""
    if ctx.state.get("chart") != _digest(platform_values(ctx)):
        return False
    wanted = [OPERATOR_DEPLOYMENT] * operator_enabled() + [API_DEPLOYMENT] * api_enabled()
    return all(_deployment_ready(ctx, name) for name in wanted)


# --- what tests and tools need to find -----------------------------------------------


def operator_pids(state_dir: Path, kubeconfig: Path) -> list[int]:
    """The processes of the operator pods' containers, as the node agent recorded them ([] when none runs)."""
    from kubernetes import client, config

    if not kubeconfig.exists():
        return []
    api = config.new_client_from_config(str(kubeconfig))
    try:
        pods = client.CoreV1Api(api).list_namespaced_pod(
            NAMESPACE, label_selector="app.kubernetes.io/component=operator", _request_timeout=10).items
    except Exception:  # noqa: BLE001 - no platform (or no API server) runs: no operator either
        return []
    finally:
        api.close()
    pids = []
    for uid in (str(pod.metadata.uid) for pod in pods if pod.metadata is not None):
        pid_file = state_dir / "node" / "pods" / uid / "containers" / OPERATOR_CONTAINER / "pid"
        try:
            pid, ticks = (int(x) for x in pid_file.read_text().split())
        except (OSError, ValueError):
            continue
        if start_ticks(pid) == ticks:
            pids.append(pid)
    return pids


def api_url(ctx: Any) -> str:
    return f"http://{LOOPBACK}:{ctx.port(API_PORT)}"


def demo_token(ctx: Any, hours: int = 24) -> str:
    """A token of ``default/tda-demo``, for the REST facade."""
    return str(ctx.kubectl("create", "token", DEMO_SERVICE_ACCOUNT, "-n", DEMO_NAMESPACE,
                           f"--duration={hours}h").stdout.strip())
