"""The operator as a service of the local platform: `tda-dev up` starts it after the CRDs.

Set ``TDA_DEV_OPERATOR=0`` to bring the platform up without it (e.g. to run the
operator from a debugger, or when a test session runs its own).
"""

from __future__ import annotations

import os
import sys
import urllib.request
from typing import Any

COMPONENT = "tda-operator"
LIVENESS = "tda-operator-liveness"


def enabled(ctx: Any) -> bool:
    return os.environ.get("TDA_DEV_OPERATOR", "1") != "0"


def argv(ctx: Any) -> list[str]:
    return [
        sys.executable, "-m", "tda_operator.cli", "run", "--all-namespaces",
        "--kubeconfig", str(ctx.kubeconfig),
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
