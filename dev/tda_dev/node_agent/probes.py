"""Startup, liveness and readiness probes, run as kubelet runs them.

exec runs inside the container's namespaces; httpGet and tcpSocket (and grpc,
as a TCP connect) go to loopback, since pods share the host's network.
"""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any

from ..net import LOOPBACK


def run_probe(probe: dict[str, Any], container: dict[str, Any], pid: int, env: dict[str, str]) -> bool:
    """One try of a probe, as kubelet runs it: exec, httpGet, tcpSocket (grpc: a TCP connect)."""
    import http.client
    import ssl

    timeout = float(probe.get("timeoutSeconds") or 1)

    def port_of(value: Any) -> int:
        if isinstance(value, int) or str(value).isdigit():
            return int(value)
        for p in container.get("ports") or []:
            if p.get("name") == value:
                return int(p["containerPort"])
        raise ValueError(f"no container port named {value!r}")

    try:
        if "exec" in probe:
            # Same namespaces, root and directory as the container's own process.
            cmd = ["nsenter", "--target", str(pid), "--mount", "--uts", "--root", "--wd", "--",
                   *probe["exec"].get("command", [])]
            return subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=timeout).returncode == 0
        if "httpGet" in probe:
            get = probe["httpGet"]
            host, port = get.get("host") or LOOPBACK, port_of(get["port"])
            conn: http.client.HTTPConnection
            if get.get("scheme", "HTTP").upper() == "HTTPS":
                conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                                   context=ssl._create_unverified_context())
            else:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            try:
                headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
                conn.request("GET", get.get("path") or "/", headers=headers)
                return 200 <= conn.getresponse().status < 400
            finally:
                conn.close()
        target = probe.get("tcpSocket") or probe.get("grpc") or {}
        with socket.create_connection((target.get("host") or LOOPBACK, port_of(target["port"])), timeout):
            return True
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired, http.client.HTTPException):
        return False


class ProbeState:
    """Thresholds and timing of one probe of one container run."""

    def __init__(self, probe: dict[str, Any]) -> None:
        self.probe = probe
        self.next = time.monotonic() + float(probe.get("initialDelaySeconds") or 0)
        self.period = float(probe.get("periodSeconds") or 10)
        self.successes = self.failures = 0

    def due(self) -> bool:
        return time.monotonic() >= self.next

    def record(self, ok: bool) -> str | None:
        """'success' or 'failure' once a threshold is crossed, else None."""
        self.next = time.monotonic() + self.period
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            return "success" if self.successes >= int(self.probe.get("successThreshold") or 1) else None
        self.successes, self.failures = 0, self.failures + 1
        return "failure" if self.failures >= int(self.probe.get("failureThreshold") or 3) else None
