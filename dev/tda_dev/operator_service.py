"""The operator as a service of the local platform: `tda-dev up` starts it after the CRDs.

It runs under its own ServiceAccount (``tda-system/tda-operator``, bound to the ClusterRole
of ``examples/rbac/operator.yaml``), never with the admin kubeconfig, so the local platform
exercises the same RBAC as a cluster. The platform also installs the admission policy that
keeps each worker pod to its own TDAJob's ConfigMaps.

Set ``TDA_DEV_OPERATOR=0`` to bring the platform up without the operator (e.g. to run it
from a debugger, or when a test session runs its own).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from . import paths

COMPONENT = "tda-operator"
LIVENESS = "tda-operator-liveness"
NAMESPACE = "tda-system"
SERVICE_ACCOUNT = "tda-operator"
TOKEN_HOURS = 24 * 30
RBAC_MANIFEST = paths.REPO_ROOT / "examples" / "rbac" / "operator.yaml"


def enabled(ctx: Any) -> bool:
    return os.environ.get("TDA_DEV_OPERATOR", "1") != "0"


def kubeconfig(ctx: Any) -> Path:
    return Path(ctx.path("operator.kubeconfig"))


def install(ctx: Any) -> None:
    """The operator's identity and RBAC, a kubeconfig holding its token, and the worker policy."""
    from tda_operator.builders import build_worker_admission_policy

    ctx.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(RBAC_MANIFEST))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as policy:
        json.dump({"apiVersion": "v1", "kind": "List", "items": build_worker_admission_policy()}, policy)
    try:
        ctx.kubectl("apply", "--server-side", "--force-conflicts", "-f", policy.name)
    finally:
        os.unlink(policy.name)
    token = ctx.kubectl("create", "token", SERVICE_ACCOUNT, "-n", NAMESPACE, f"--duration={TOKEN_HOURS}h").stdout
    admin = json.loads(ctx.kubectl("config", "view", "--raw", "-o", "json").stdout)
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": SERVICE_ACCOUNT, "user": {"token": token.strip()}}],
        "contexts": [{"name": SERVICE_ACCOUNT, "context": {"cluster": cluster["name"], "user": SERVICE_ACCOUNT}}],
        "current-context": SERVICE_ACCOUNT,
    }
    path = kubeconfig(ctx)
    path.write_text(json.dumps(config))
    path.chmod(0o600)


def installed(ctx: Any) -> bool:
    return kubeconfig(ctx).exists() or not enabled(ctx)


#: A laptop-sized download cap (clusters keep the operator's 1 GiB default).
LOCAL_MAX_DOWNLOAD_BYTES = 64 * 1024**2


def env(ctx: Any) -> dict[str, str]:
    return {"TDA_OPERATOR_MAX_DOWNLOAD_BYTES": os.environ.get("TDA_OPERATOR_MAX_DOWNLOAD_BYTES",
                                                              str(LOCAL_MAX_DOWNLOAD_BYTES))}


def argv(ctx: Any) -> list[str]:
    return [
        sys.executable, "-m", "tda_operator.cli", "run", "--all-namespaces",
        "--kubeconfig", str(kubeconfig(ctx)),
        "--metrics-port", str(ctx.port(COMPONENT)),
        "--liveness", f"http://127.0.0.1:{ctx.port(LIVENESS)}/healthz",
    ]


def ready(ctx: Any) -> bool:
    """kopf answers its liveness probe once its start-up is done and the watches run."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ctx.port(LIVENESS)}/healthz", timeout=3) as response:
            return bool(response.status == 200)
    except OSError:
        return False
