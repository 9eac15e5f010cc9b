"""Helpers shared by the test layers (importable because tests/ holds the root conftest)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0, every: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def run_and_interrupt(setup: str, call: str, wait: float = 1.0, timeout: float = 30.0) -> str:
    """Runs ``setup`` and then the expression ``call`` in a fresh interpreter, sends it
    SIGINT (Ctrl-C) ``wait`` seconds after the call started, and returns what it printed:
    ``interrupted`` if KeyboardInterrupt came out of the call, ``finished`` if the call
    returned first.

    A call that ignores the signal still raises KeyboardInterrupt, but only once it
    returns; callers therefore pass inputs that take minutes to finish, so that such a
    call fails here by ``timeout`` (a safety net far above the ~0.1 s an honoured
    Ctrl-C takes, not a measured duration)."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(setup) + textwrap.dedent(
        f"""
        import sys
        print("ready", flush=True)
        try:
            {call}
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(0)
        print("finished", flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline().strip()
        assert first == "ready", first
        time.sleep(wait)
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"Ctrl-C ignored: {call} still running {timeout:.0f}s after SIGINT")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out.strip()
