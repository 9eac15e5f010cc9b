"""Helpers shared by the test layers (importable because tests/ holds the root conftest)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml


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


# ------------------------------------------------------------------------------ the REST facade


def apply_manifest(api_client, path: Path) -> None:
    from kubernetes import utils

    for doc in yaml.safe_load_all(path.read_text()):
        try:
            utils.create_from_dict(api_client, doc)
        except utils.FailToCreateError as error:
            if any(getattr(e, "status", None) != 409 for e in error.api_exceptions):
                raise


def service_account_token(core, namespace: str, name: str) -> str:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}
    return core.create_namespaced_service_account_token(name, namespace, body).status.token


def token_kubeconfig(platform, token: str, path: Path) -> Path:
    admin = yaml.safe_load(Path(platform.kubeconfig).read_text())
    cluster = admin["clusters"][0]["cluster"]
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "tda-api",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "tda-api", "user": {"token": token}}],
        "contexts": [{"name": "tda-api", "context": {"cluster": "local", "user": "tda-api"}}],
    }))
    return path


@contextlib.contextmanager
def serve_facade(settings) -> Iterator[str]:
    """tda-server in a thread on a free loopback port; its URL once it is ready."""
    import uvicorn
    from tda_api import create_app
    from tda_dev.net import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the facade's /readyz", lambda: http_status(url + "/readyz") == 200, timeout=60)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def http_status(url: str) -> int:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


# ------------------------------------------------------------------------------ Ctrl-C


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
