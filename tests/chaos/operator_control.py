"""Crashing and awaiting the local platform's own operator."""

from __future__ import annotations

import json
import os
import signal
import urllib.request

import pytest
from support import wait_for


def _operator(platform) -> tuple[int, int] | None:
    """(pid, metrics port) of the platform's operator, or None when it is not running."""
    if platform.state_dir is None:
        pytest.skip("an external cluster's operator is not ours to kill")
    state = json.loads((platform.state_dir / "state.json").read_text())
    try:
        pid = int(state["processes"]["tda-operator"]["pid"])
        os.kill(pid, 0)
        return pid, int(state["ports"]["tda-operator"])
    except (KeyError, ValueError, TypeError, OSError):
        return None


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def kill_operator(platform) -> None:
    """SIGKILL, as a crash or an OOM kill would leave it: no clean-up of any kind."""
    found = _operator(platform)
    assert found is not None, "the platform runs no operator"
    os.killpg(found[0], signal.SIGKILL)
    wait_for("the operator to go away", lambda: not _healthy(found[1]), timeout=10)


def operator_ready(platform) -> None:
    """The operator running again (started again as the platform would) and healthy."""
    from tda_dev import platform as local

    local.up()
    wait_for("the operator's /healthz", lambda: (found := _operator(platform)) is not None and _healthy(found[1]),
             timeout=120)
