"""Crashing the local platform's operator: the chart's pod, whose process the node agent restarts."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from support import http_status, wait_for


def _operator(platform) -> tuple[int, int] | None:
    """(pid, metrics port) of the operator pod's process, or None when none runs."""
    from tda_dev import chart_service

    if platform.state_dir is None:
        pytest.skip("an external cluster's operator is not ours to kill")
    state = json.loads((Path(platform.state_dir) / "state.json").read_text())
    pids = chart_service.operator_pids(Path(platform.state_dir), Path(platform.kubeconfig))
    return (pids[0], int(state["ports"][chart_service.OPERATOR_PORT])) if len(pids) == 1 else None


def healthy(port: int) -> bool:
    return http_status(f"http://127.0.0.1:{port}/healthz") == 200


def kill_operator(platform) -> None:
    """SIGKILL, as a crash or an OOM kill would leave it: no clean-up of any kind."""
    found = _operator(platform)
    assert found is not None, "the platform runs no operator"
    os.killpg(found[0], signal.SIGKILL)
    wait_for("the operator to go away", lambda: not healthy(found[1]), timeout=10)


def operator_ready(platform) -> None:
    """The operator's container restarted (by the node agent, as kubelet would) and healthy.

    Restarts back off as kubelet's do (10 s, doubling up to 5 min), so repeated crashes wait longer.
    """
    wait_for("the operator's /healthz", lambda: (found := _operator(platform)) is not None and healthy(found[1]),
             timeout=360)
