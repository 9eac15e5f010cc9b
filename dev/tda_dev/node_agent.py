"""The local node agent: a stand-in for kubelet + a container runtime.

It registers Node `tda-local`, keeps its Lease and Ready condition fresh, and
runs every pod bound to the node as local processes, so that everything else
(scheduler, Job controller, garbage collector, RBAC, admission) stays real:

    python -m tda_dev.node_agent --kubeconfig K --state-dir D \
        --api-server https://127.0.0.1:PORT --ca-file CA --node-name tda-local

Each container is its own process (own session, so it can be killed as a
group) in its own mount namespace. Its root is a copy-on-write overlay of the
host root, so that mount points that do not exist on the host (a volume's
mountPath, /var/run/secrets/kubernetes.io/serviceaccount, /dev/termination-log)
can be created without touching the host; volumes are host directories
bind-mounted into it. The image is not pulled: the pod's `command` + `args`
must be what the image would run, resolved on this machine (the agent's
interpreter's bin directory comes first on PATH, so `python3` and our console
scripts are the project's virtualenv).

Container output goes to <state-dir>/logs/<namespace>_<pod>_<container>.log
(restarts append), which `kubectl logs [-f]` reads through the kubelet-API
endpoint the agent serves. PersistentVolumeClaims of StorageClass `tda-local`
(made the default if the cluster has none) get a host directory under
<state-dir>/pvc/<namespace>/<claim>.

Startup, liveness and readiness probes run as kubelet runs them (exec inside
the container's namespace, httpGet/tcpSocket against 127.0.0.1).

Not emulated: images and their entrypoints, resource limits (no cgroups),
securityContext users (processes run as root), a pod network (pods share the
host's; podIP is 127.0.0.1; no Service routing or DNS), service-link env
vars, and `kubectl exec`/`port-forward`. Needs root and overlayfs.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import fcntl
import json
import logging
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlparse

# Also run as a plain script (the in-namespace exec helper, `python -I node_agent.py`),
# so this module imports nothing from its package.
LOOPBACK = "127.0.0.1"

log = logging.getLogger("tda-node-agent")

LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
HEARTBEAT_SECONDS = 10.0
MAX_GRACE_SECONDS = 30  # a pod may ask for more; a dev platform should not wait that long
SHUTDOWN_GRACE_SECONDS = 5
# Crash-loop back-off: kubelet's 10 s doubling to 5 min, but a quick first retry (as with
# kubelet's reduced-backoff feature) so a one-off failure does not stall a dev loop.
BACKOFF_FIRST, BACKOFF_START, BACKOFF_MAX = 1.0, 10.0, 300.0
BACKOFF_RESET_AFTER = 600.0
TERMINATION_MESSAGE_MAX = 4096
FALLBACK_LOG_LINES = 80
DEFAULT_TERMINATION_PATH = "/dev/termination-log"
SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
TERMINAL = ("Succeeded", "Failed")
STORAGE_CLASS = "tda-local"
PROVISIONER = "tda.io/node-agent"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# --- the API -------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class Kube:
    """Plain JSON over HTTPS with the admin credentials of a kubeconfig.

    The kubernetes client only reads the kubeconfig: the agent works with the
    API's own JSON (dicts), which keeps strategic-merge patches and watches
    exactly as the API server defines them.
    """

    def __init__(self, kubeconfig: str, server: str | None = None, ca_file: str | None = None) -> None:
        import urllib3
        from kubernetes import client, config

        cfg = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        self.base = (server or cfg.host).rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "tda-node-agent"}
        settings: dict[str, dict[str, Any]] = dict(cfg.auth_settings())  # type: ignore[arg-type]
        for auth in settings.values():
            if auth.get("value"):  # a bearer token; client certificates need no header
                self.headers["Authorization"] = str(auth["value"])
        self.pool = urllib3.PoolManager(
            num_pools=4, maxsize=32, cert_reqs="CERT_REQUIRED",
            ca_certs=ca_file or cfg.ssl_ca_cert, cert_file=cfg.cert_file, key_file=cfg.key_file,
        )
        self._urllib3 = urllib3

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        return self.base + path + (("?" + urlencode(params)) if params else "")

    def request(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None,
                content_type: str = "application/json", timeout: float = 30.0) -> dict[str, Any]:
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        r = self.pool.request(method, self.url(path, params), body=data, headers=headers,
                              timeout=self._urllib3.Timeout(connect=5.0, read=timeout), retries=False)
        text = r.data.decode("utf-8", "replace")
        if r.status >= 300:
            raise ApiError(r.status, text)
        return json.loads(text) if text.startswith("{") else {}

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        return self.request("GET", path, params=params or None)

    def watch(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Events of a watch, until the server ends it."""
        params = dict(params, watch="true", allowWatchBookmarks="true")
        read_timeout = float(params.get("timeoutSeconds", 300)) + 30
        r = self.pool.request("GET", self.url(path, params), headers=self.headers, preload_content=False,
                              timeout=self._urllib3.Timeout(connect=5.0, read=read_timeout), retries=False)
        try:
            if r.status >= 300:
                raise ApiError(r.status, r.data.decode("utf-8", "replace"))
            buf = b""
            for chunk in r.stream(65536):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            r.release_conn()


def pod_path(ns: str, name: str, sub: str = "") -> str:
    return f"/api/v1/namespaces/{ns}/pods/{quote(name)}{sub}"


# --- quantities, env and field references ----------------------------------------


def parse_quantity(q: Any) -> float:
    from kubernetes.utils import parse_quantity as _parse

    return float(_parse(str(q)))


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: $$ escapes, unknown references stay as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env.get(name, text[i:end + 1]))
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(pod: dict[str, Any], path: str) -> str:
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
        "status.hostIP": LOOPBACK,
        "status.hostIPs": LOOPBACK,
        "status.podIP": LOOPBACK,
        "status.podIPs": LOOPBACK,
    }
    if path in simple:
        return simple[path]
    m = _SUBSCRIPT.match(path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise ValueError(f"unsupported fieldRef {path!r}")


class MountError(Exception):
    """A volume or env source is not (yet) available; the container waits, as with kubelet."""


# --- the exec helper (runs inside the new mount namespace) -------------------------

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
MNT_DETACH = 2
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)

    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _umount(target: str) -> None:
    ctypes.CDLL(None, use_errno=True).umount2(target.encode(), MNT_DETACH)


def _top_level_mounts(skip_under: str) -> list[str]:
    """Mount points directly on top of the root mount, except our scratch space."""
    entries = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        f = line.split()
        entries.append((f[0], f[1], f[4].encode().decode("unicode_escape")))
    root_ids = {mid for mid, _, mp in entries if mp == "/"}
    seen: list[str] = []
    for _, parent, mp in entries:
        if parent in root_ids and mp != "/" and not (mp + "/").startswith(skip_under + "/") and mp not in seen:
            seen.append(mp)
    return seen


def _build_root(scratch: str) -> str:
    """A copy-on-write view of the host root for one container; returns its path.

    Writes outside volumes land in a tmpfs that goes away with the namespace,
    so creating mount points never pollutes the host. /dev is a small tmpfs
    with the usual device nodes bound in (as container runtimes do), which
    gives /dev/termination-log somewhere to live.
    """
    _mount("tda-pod", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700")
    for d in ("upper", "work", "root"):
        os.mkdir(os.path.join(scratch, d), 0o755)
    root = os.path.join(scratch, "root")
    _mount("overlay", root, "overlay", 0,
           f"lowerdir=/,upperdir={scratch}/upper,workdir={scratch}/work")
    for mp in _top_level_mounts(scratch):
        if mp == "/dev" or mp.startswith("/dev/"):
            continue
        with contextlib.suppress(OSError):
            _mount(mp, root + mp, None, MS_BIND | MS_REC)
    dev = root + "/dev"
    _mount("tda-dev", dev, "tmpfs", MS_NOSUID, "mode=0755")
    for name in DEV_NODES:
        if os.path.exists("/dev/" + name):
            open(f"{dev}/{name}", "w").close()
            _mount("/dev/" + name, f"{dev}/{name}", None, MS_BIND)
    os.mkdir(dev + "/pts")
    with contextlib.suppress(OSError):
        _mount("/dev/pts", dev + "/pts", None, MS_BIND | MS_REC)
    os.symlink("pts/ptmx", dev + "/ptmx")
    os.mkdir(dev + "/shm")
    _mount("shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.symlink("/proc/self/fd", dev + "/fd")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")
    return root


def exec_helper(spec_file: str) -> None:
    """Set up the container's filesystem in this (new) mount namespace, then exec its command."""
    with open(spec_file) as f:
        spec = json.load(f)
    os.unlink(spec_file)  # it holds the container's env, secrets included
    error = os.open(spec["error_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        root = _build_root(spec["scratch"])
        stage = root + "/.tda-mounts"
        os.mkdir(stage, 0o700)
        # Sources are bound into the new root before chroot: inside it, symlinked
        # paths (/var/run -> /run) resolve against the container's root, not the host's.
        mounts = sorted(spec["mounts"], key=lambda m: m["target"].rstrip("/").count("/"))
        for i, m in enumerate(mounts):
            staged = f"{stage}/{i}"
            if os.path.isdir(m["source"]):
                os.mkdir(staged)
            else:
                open(staged, "w").close()
            _mount(m["source"], staged, None, MS_BIND | MS_REC)
        os.chroot(root)
        os.chdir("/")
        for i, m in enumerate(mounts):
            staged, target = f"/.tda-mounts/{i}", m["target"]
            if os.path.isdir(staged):
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
                if not os.path.exists(target):
                    open(target, "w").close()
            _mount(staged, target, None, MS_BIND | MS_REC)
            if m.get("readOnly"):
                _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            _umount(staged)
            if os.path.isdir(staged):
                os.rmdir(staged)
            else:
                os.remove(staged)
        os.rmdir("/.tda-mounts")
        hostname = spec["hostname"]
        with contextlib.suppress(OSError):
            socket.sethostname(hostname)
            if not os.path.islink("/etc/hosts"):
                with open("/etc/hosts", "a") as f:
                    f.write(f"\n{LOOPBACK}\t{hostname}\n")
        if spec.get("readOnlyRoot"):
            _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        workdir = spec.get("workingDir") or "/"
        os.makedirs(workdir, exist_ok=True)
        os.chdir(workdir)
        argv = spec["argv"]
        env = spec["env"]
    except Exception as e:  # noqa: BLE001 - any set-up failure is the container's start error
        os.write(error, f"failed to set up the container: {e}".encode())
        os._exit(128)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        os.write(error, f'exec: "{argv[0]}": {e.strerror}'.encode())
        os._exit(128)


# --- probes --------------------------------------------------------------------


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


# --- containers ----------------------------------------------------------------


class Container:
    """One run of one container: a process and what is needed to report it."""

    def __init__(self, name: str, spec: dict[str, Any], cdir: Path, log_file: Path) -> None:
        self.name = name
        self.spec = spec
        self.dir = cdir
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.mntns: str | None = None
        self.ns_fd: int | None = None
        self.started_at = ""
        self.started_mono = 0.0
        self.log_offset = 0
        self.env: dict[str, str] = {}
        self.probes = {kind: ProbeState(spec[kind])
                       for kind in ("startupProbe", "livenessProbe", "readinessProbe") if spec.get(kind)}

    @property
    def term_file(self) -> Path:
        return self.dir / "termination-log"

    @property
    def error_file(self) -> Path:
        return self.dir / "start-error"

    def start(self, argv: list[str], env: dict[str, str], mounts: list[dict[str, Any]],
              scratch: Path, hostname: str, working_dir: str, read_only_root: bool) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        scratch.mkdir(parents=True, exist_ok=True)
        self.term_file.write_bytes(b"")
        self.error_file.unlink(missing_ok=True)
        self.env = env
        term_path = self.spec.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH
        mounts = [*mounts, {"source": str(self.term_file), "target": term_path, "readOnly": False}]
        spec = {"argv": argv, "env": env, "mounts": mounts, "scratch": str(scratch), "hostname": hostname,
                "workingDir": working_dir, "error_file": str(self.error_file), "readOnlyRoot": read_only_root}
        spec_file = self.dir / "spec.json"
        fd = os.open(spec_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as logf:
            self.log_offset = logf.tell()
            # `unshare` execs (no fork), so the pid we get is the container's own process.
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--uts", "--propagation", "private",
                 sys.executable, "-I", os.path.abspath(__file__), "--exec-helper", str(spec_file)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, env={"PATH": os.environ.get("PATH", "")},
            )
        self.started_at = now()
        self.started_mono = time.monotonic()
        pid_record = f"{self.proc.pid} {_start_ticks(self.proc.pid)}\n"
        (self.dir / "pid").write_text(pid_record)

    def poll(self) -> int | None:
        """Exit code (128+signal for a signal, as kubelet reports), or None while running.

        The process is reaped only after its group and namespace were cleared:
        until then its pid (= process group id) cannot be reused by another
        container, and the namespace we hold open keeps its inode number ours.
        """
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            if self.ns_fd is None:
                self._hold_namespace()
            if not self.exited():
                return None
            self._clear_leftovers()
            proc.wait()
        rc = proc.returncode
        return 128 - rc if rc < 0 else rc

    def exited(self) -> bool:
        """Whether the process has ended, without reaping it (poll() does that)."""
        if self.proc is None or self.proc.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _hold_namespace(self) -> None:
        assert self.proc is not None
        ns = _mntns(self.proc.pid)
        if ns and ns != _mntns(os.getpid()):
            with contextlib.suppress(OSError):
                self.ns_fd = os.open(f"/proc/{self.proc.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
                self.mntns = ns

    def _clear_leftovers(self) -> None:
        """SIGKILL what the container left running: its process group and anything in its namespace."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.mntns and self.ns_fd is not None:
            kill_namespace(self.mntns)
        if self.ns_fd is not None:
            os.close(self.ns_fd)
            self.ns_fd = None

    def signal(self, sig: int) -> None:
        # Only while not reaped: after that the pid may belong to someone else.
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the container and whatever it started; reaps it."""
        if self.proc is not None and self.proc.returncode is None:
            if self.ns_fd is None:
                self._hold_namespace()
            self._clear_leftovers()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        (self.dir / "pid").unlink(missing_ok=True)

    def termination_message(self, exit_code: int) -> str:
        with contextlib.suppress(OSError):
            err = self.error_file.read_text(errors="replace").strip()
            if err:
                return err
        msg = ""
        with contextlib.suppress(OSError), open(self.term_file, "rb") as f:
            msg = f.read(TERMINATION_MESSAGE_MAX).decode("utf-8", "replace")
        if not msg and exit_code != 0 and self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            msg = self.log_tail()
        return msg

    def log_tail(self) -> str:
        try:
            with open(self.log_file, "rb") as f:
                f.seek(self.log_offset)
                data = f.read()
        except OSError:
            return ""
        tail = b"\n".join(data.splitlines()[-FALLBACK_LOG_LINES:])[-TERMINATION_MESSAGE_MAX:]
        return tail.decode("utf-8", "replace")

    def started_error(self) -> bool:
        with contextlib.suppress(OSError):
            return self.error_file.stat().st_size > 0
        return False


def _start_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return -1


def _mntns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def kill_namespace(mntns: str) -> None:
    """SIGKILL every process in a container's mount namespace (those that left its process group)."""
    if mntns == _mntns(os.getpid()):
        return
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _mntns(int(entry)) == mntns:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)


def kill_pod_processes(state_dir: Path) -> int:
    """Kill the container processes recorded under state_dir; returns how many were alive.

    The agent does this itself on shutdown and on start-up (after a crash).
    `tda-dev down` can call it as a last resort once the agent is gone.
    """
    killed = 0
    for pid_file in Path(state_dir).glob("pods/*/containers/*/pid"):
        with contextlib.suppress(OSError, ValueError):
            pid, ticks = (int(x) for x in pid_file.read_text().split())
            if _start_ticks(pid) == ticks:
                ns = _mntns(pid)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                if ns:
                    kill_namespace(ns)
                killed += 1
            pid_file.unlink()
    return killed


def write_file(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode & 0o777)
    os.replace(tmp, path)


# --- pods ----------------------------------------------------------------------


class PodWorker(threading.Thread):
    """Runs one pod from pickup to a terminal phase (or deletion) and reports its status."""

    def __init__(self, agent: Agent, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.agent = agent
        self.pod = pod
        self.ns, self.name, self.uid = meta["namespace"], meta["name"], meta["uid"]
        self.dir = agent.state_dir / "pods" / self.uid
        self.wake = threading.Event()
        self.gone = False  # the API object was deleted
        self.conditions: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.init_statuses: dict[str, dict[str, Any]] = {}
        self.phase = "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.start_time = pod.get("status", {}).get("startTime") or now()
        self.volumes: dict[str, Path] = {}
        self.token_refresh: float = math.inf
        self.running: dict[str, Container] = {}
        self.backoff: dict[str, tuple[int, float]] = {}  # name -> (failures in a row, not before)
        self._published: str | None = None

    # -- inputs from the watch --

    def update(self, pod: dict[str, Any]) -> None:
        self.pod = pod
        self.wake.set()

    def deleted(self) -> None:
        self.gone = True
        self.wake.set()

    @property
    def spec(self) -> dict[str, Any]:
        return self.pod["spec"]

    def deleting(self) -> bool:
        return self.gone or bool(self.pod["metadata"].get("deletionTimestamp"))

    def stopping(self) -> bool:
        return self.agent.stop.is_set() or self.deleting()

    # -- main loop --

    def run(self) -> None:
        try:
            self._run()
        except Exception:
            log.exception("pod %s/%s: worker failed", self.ns, self.name)
            self._kill_all(0)
        finally:
            self.agent.worker_done(self)

    def _run(self) -> None:
        containers = self.spec["containers"]
        all_inits = self.spec.get("initContainers") or []
        inits = [c for c in all_inits if c.get("restartPolicy") != "Always"]
        sidecars = [c for c in all_inits if c.get("restartPolicy") == "Always"]
        previous = self.pod.get("status", {})
        prev_conditions = {c.get("type"): c for c in previous.get("conditions") or []}
        if "PodScheduled" not in prev_conditions:  # bound directly via spec.nodeName
            self.set_condition("PodScheduled", "True")
        self.set_condition("PodReadyToStartContainers", "False")
        self.set_condition("Initialized", "False" if inits else "True",
                           "ContainersNotInitialized" if inits else None)
        self.set_condition("ContainersReady", "False", "ContainersNotReady")
        self.set_condition("Ready", "False", "ContainersNotReady")
        for c in all_inits:
            self.init_statuses[c["name"]] = self._waiting(c, "PodInitializing")
        for c in containers:
            self.statuses[c["name"]] = self._waiting(c, "ContainerCreating")
        adopted = self._adopt(previous)
        self.publish()
        if adopted and self.phase == "Failed":
            return self._terminal("Failed")

        if not self._prepare_volumes():
            return self._finish_deleted()
        self.set_condition("PodReadyToStartContainers", "True")
        self.publish()

        initialized = adopted and prev_conditions.get("Initialized", {}).get("status") == "True"
        if initialized:  # keep reporting how the init containers ended
            prev_init = {s["name"]: s for s in previous.get("initContainerStatuses") or []}
            for c in inits:
                self.init_statuses[c["name"]] = prev_init.get(c["name"], self.init_statuses[c["name"]])
        else:
            for c in inits:
                outcome = self._run_init(c)
                if outcome == "stopped":
                    return self._finish_deleted()
                if outcome == "failed":
                    return self._terminal("Failed")
        self.set_condition("Initialized", "True")
        for c in sidecars + containers:
            self._start(c)
        self._update_readiness()
        self.publish()
        self._supervise(containers, sidecars)

    def _adopt(self, previous: dict[str, Any]) -> bool:
        """A pod this node started before the agent restarted: its processes are gone.

        They count as lost containers (exit 137); the restart policy decides
        what happens next, as kubelet does after a node reboot.
        """
        started = [s for s in previous.get("containerStatuses") or []
                   if "waiting" not in (s.get("state") or {}) or s.get("restartCount")]
        if not started:
            return False
        policy = self.spec.get("restartPolicy", "Always")
        for s in started:
            st = self.statuses.get(s["name"])
            if st is None:
                continue
            lost = {"terminated": {
                "exitCode": 137, "reason": "ContainerStatusUnknown",
                "message": "the node agent restarted and the container's process was gone",
                "startedAt": (s.get("state", {}).get("running") or {}).get("startedAt"),
                "finishedAt": now()}}
            if policy == "Never":
                st["state"] = lost
            else:
                st["restartCount"] = s.get("restartCount", 0) + 1
                st["lastState"] = lost
        if policy == "Never":
            self.phase = "Failed"
        return True

    def _supervise(self, containers: list[dict[str, Any]], sidecars: list[dict[str, Any]]) -> None:
        policy = self.spec.get("restartPolicy", "Always")
        main = {c["name"] for c in containers}
        specs = {c["name"]: c for c in sidecars + containers}
        done: dict[str, int] = {}
        while True:
            if self.stopping():
                return self._finish_deleted()
            if self._deadline_exceeded():
                self._kill_all(0)
                self.reason, self.message = "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"
                return self._terminal("Failed")
            self._refresh_tokens()
            self._probe()
            for name, ctr in list(self.running.items()):
                rc = ctr.poll()
                if rc is None:
                    continue
                del self.running[name]
                self._record_exit(ctr, rc, self._status_of(name))
                restart = name not in main or policy == "Always" or (policy == "OnFailure" and rc != 0)
                if restart:
                    self._schedule_restart(ctr, rc)
                else:
                    done[name] = rc
            for name in list(self.backoff):
                if name in self.running or name in done:
                    continue
                failures, not_before = self.backoff[name]
                if time.monotonic() >= not_before:
                    self._start(specs[name])
            if main.issubset(done):
                self._kill_all(0)  # sidecars end with the pod
                return self._terminal("Succeeded" if all(done[n] == 0 for n in main) else "Failed")
            self._update_readiness()
            self.publish()
            self.wake.wait(0.5)
            self.wake.clear()

    def _run_init(self, c: dict[str, Any]) -> str:
        policy = self.spec.get("restartPolicy", "Always")
        name = c["name"]
        while True:
            self._start(c, init=True)
            self.publish()
            ctr = self.running.get(name)
            while ctr is not None:
                if self.stopping():
                    return "stopped"
                if self._deadline_exceeded():
                    self._kill_all(0)
                    self.reason, self.message = "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"
                    return "failed"
                rc = ctr.poll()
                if rc is not None:
                    del self.running[name]
                    self._record_exit(ctr, rc, self.init_statuses[name])
                    self.init_statuses[name]["ready"] = rc == 0
                    self.publish()
                    if rc == 0:
                        return "ok"
                    if policy == "Never":
                        return "failed"
                    self._schedule_restart(ctr, rc)
                    break
                self._refresh_tokens()
                self.wake.wait(0.5)
                self.wake.clear()
            # back-off (or a container that could not be created) before the next try
            while True:
                if self.stopping():
                    return "stopped"
                _, not_before = self.backoff.get(name, (0, 0.0))
                if time.monotonic() >= not_before:
                    break
                self.wake.wait(0.5)
                self.wake.clear()

    # -- containers --

    def _start(self, c: dict[str, Any], init: bool = False) -> None:
        name = c["name"]
        st = self._status_of(name)
        try:
            env = self.agent.container_env(self.pod, c)
            # Without an image there is no entrypoint: `args` alone run as the command (right for
            # images with none, such as python); otherwise `command` must name what the image runs.
            argv = [expand(a, env) for a in (c.get("command") or []) + (c.get("args") or [])]
            if not argv:
                raise MountError("the container has no command: the node agent runs `command`+`args` only")
            mounts = self._mounts(c, env)
        except (MountError, ApiError, ValueError) as e:
            st["state"] = {"waiting": {"reason": "CreateContainerConfigError", "message": str(e)}}
            self.backoff[name] = (self.backoff.get(name, (0, 0.0))[0], time.monotonic() + 2.0)
            return
        ctr = Container(name, c, self.dir / "containers" / name,
                        self.agent.logs_dir / f"{self.ns}_{self.name}_{name}.log")
        hostname = self.spec.get("hostname") or self.name
        read_only_root = bool((c.get("securityContext") or {}).get("readOnlyRootFilesystem"))
        try:
            ctr.start(argv, env, mounts, self.dir / "ns" / name, hostname[:63], c.get("workingDir") or "/",
                      read_only_root)
        except OSError as e:
            st["state"] = {"waiting": {"reason": "RunContainerError", "message": str(e)}}
            self.backoff[name] = (self.backoff.get(name, (0, 0.0))[0], time.monotonic() + 5.0)
            return
        self.running[name] = ctr
        st["state"] = {"running": {"startedAt": ctr.started_at}}
        st["started"] = True
        st["containerID"] = f"tda://{self.uid}/{name}/{st['restartCount']}"
        # A plain init container is never ready; others are once their probes say so.
        st["ready"] = not (init and c.get("restartPolicy") != "Always") and not ctr.probes
        st["started"] = "startupProbe" not in ctr.probes
        log.info("pod %s/%s: started %s (pid %s)", self.ns, self.name, name, ctr.proc.pid if ctr.proc else "?")

    def _record_exit(self, ctr: Container, rc: int, st: dict[str, Any]) -> None:
        start_error = ctr.started_error()
        message = ctr.termination_message(rc)
        reason = "StartError" if start_error else ("Completed" if rc == 0 else "Error")
        term = {"exitCode": rc, "reason": reason, "startedAt": ctr.started_at, "finishedAt": now()}
        if st.get("containerID"):
            term["containerID"] = st["containerID"]
        if message:
            term["message"] = message
        st["state"] = {"terminated": term}
        st["ready"] = False
        st["started"] = False
        ctr.kill()  # reaps it and drops its pid record (poll() already cleared its leftovers)
        log.info("pod %s/%s: %s exited %s", self.ns, self.name, ctr.name, rc)

    def _schedule_restart(self, ctr: Container, rc: int) -> None:
        st = self._status_of(ctr.name)
        failures = self.backoff.get(ctr.name, (0, 0.0))[0]
        if time.monotonic() - ctr.started_mono > BACKOFF_RESET_AFTER:
            failures = 0
        delay = min(BACKOFF_START * 2 ** (failures - 1), BACKOFF_MAX) if failures else BACKOFF_FIRST
        self.backoff[ctr.name] = (failures + 1, time.monotonic() + delay)
        st["lastState"] = st["state"]
        st["restartCount"] = st.get("restartCount", 0) + 1
        if delay >= BACKOFF_START:
            st["state"] = {"waiting": {"reason": "CrashLoopBackOff",
                                       "message": f"back-off {int(delay)}s restarting failed container={ctr.name} "
                                                  f"pod={self.name}_{self.ns}({self.uid})"}}

    def _kill_all(self, grace: float) -> None:
        if not self.running:
            return
        for ctr in self.running.values():
            ctr.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(c.poll() is None for c in self.running.values()):
            time.sleep(0.1)
        for name, ctr in list(self.running.items()):
            rc = ctr.poll()
            if rc is None:
                ctr.kill()
                rc = ctr.poll()
                if rc is None:
                    rc = 137
            self._record_exit(ctr, rc, self._status_of(name))
        self.running.clear()

    def _probe(self) -> None:
        for name, ctr in self.running.items():
            if not ctr.probes or ctr.proc is None or ctr.proc.returncode is not None:
                continue
            st = self._status_of(name)
            startup = ctr.probes.get("startupProbe")
            checks = [("startupProbe", startup)] if startup and not st.get("started") else [
                (kind, ctr.probes[kind]) for kind in ("livenessProbe", "readinessProbe") if kind in ctr.probes]
            for kind, state in checks:
                if not state.due():
                    continue
                outcome = state.record(run_probe(state.probe, ctr.spec, ctr.proc.pid, ctr.env))
                if kind == "readinessProbe" and outcome:
                    st["ready"] = outcome == "success"
                elif kind == "startupProbe" and outcome == "success":
                    st["started"] = True
                    st["ready"] = "readinessProbe" not in ctr.probes
                elif outcome == "failure" and kind != "readinessProbe":
                    # A failed liveness/startup probe kills the container; the restart policy decides the rest.
                    log.info("pod %s/%s: %s failed its %s", self.ns, self.name, name, kind)
                    ctr.signal(signal.SIGTERM)
                    grace = min(float(self.spec.get("terminationGracePeriodSeconds", 30)), MAX_GRACE_SECONDS)
                    deadline = time.monotonic() + grace
                    while not ctr.exited() and time.monotonic() < deadline:
                        time.sleep(0.1)
                    ctr.signal(signal.SIGKILL)
                    break

    def _update_readiness(self) -> None:
        ready = all(s.get("ready") for s in self.statuses.values())
        if ready:
            self.set_condition("ContainersReady", "True")
            self.set_condition("Ready", "True")
        else:
            missing = sorted(n for n, s in self.statuses.items() if not s.get("ready"))
            msg = f"containers with unready status: [{' '.join(missing)}]"
            self.set_condition("ContainersReady", "False", "ContainersNotReady", msg)
            self.set_condition("Ready", "False", "ContainersNotReady", msg)
        self.phase = "Running"

    def _deadline_exceeded(self) -> bool:
        limit = self.spec.get("activeDeadlineSeconds")
        started = parse_time(self.start_time)
        return limit is not None and started is not None and time.time() - started > limit

    # -- ending --

    def _terminal(self, phase: str) -> None:
        self.phase = phase
        self.set_condition("ContainersReady", "False", "PodCompleted")
        self.set_condition("Ready", "False", "PodCompleted")
        self.set_condition("PodReadyToStartContainers", "False")
        self.publish()
        log.info("pod %s/%s: %s", self.ns, self.name, phase)
        # A terminal pod needs nothing more from the node (the API server deletes
        # terminal pods at once); its directory, emptyDirs included, goes now.
        self._cleanup()

    def _finish_deleted(self) -> None:
        if self.agent.stop.is_set() and not self.deleting():
            self._kill_all(SHUTDOWN_GRACE_SECONDS)
            return
        grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.spec.get("terminationGracePeriodSeconds", 30)
        self._kill_all(0 if self.gone else min(float(grace), MAX_GRACE_SECONDS))
        if not self.gone:
            if self.phase not in TERMINAL:
                codes = [(s.get("state") or {}).get("terminated", {}).get("exitCode") for s in self.statuses.values()]
                self.phase = "Succeeded" if codes and all(c == 0 for c in codes) else "Failed"
                self.set_condition("ContainersReady", "False", "PodCompleted")
                self.set_condition("Ready", "False", "PodCompleted")
                self.publish()
            with contextlib.suppress(ApiError):
                self.agent.api.request("DELETE", pod_path(self.ns, self.name),
                                       body={"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}})
        self._cleanup()

    def _cleanup(self) -> None:
        if not self.running:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- status --

    def _status_of(self, name: str) -> dict[str, Any]:
        return self.init_statuses[name] if name in self.init_statuses else self.statuses[name]

    def _waiting(self, c: dict[str, Any], reason: str) -> dict[str, Any]:
        return {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                "started": False, "restartCount": 0, "state": {"waiting": {"reason": reason}}}

    def set_condition(self, ctype: str, status: str, reason: str | None = None, message: str | None = None) -> None:
        old = self.conditions.get(ctype)
        changed = old is None or old["status"] != status
        self.conditions[ctype] = {
            "type": ctype, "status": status, "reason": reason, "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": now() if changed else old["lastTransitionTime"],  # type: ignore[index]
        }

    def publish(self) -> None:
        status: dict[str, Any] = {
            "phase": self.phase,
            "hostIP": LOOPBACK, "hostIPs": [{"ip": LOOPBACK}],
            "podIP": LOOPBACK, "podIPs": [{"ip": LOOPBACK}],
            "startTime": self.start_time,
            "conditions": list(self.conditions.values()),
            "containerStatuses": list(self.statuses.values()),
            "reason": self.reason, "message": self.message,
        }
        if self.init_statuses:
            status["initContainerStatuses"] = list(self.init_statuses.values())
        text = json.dumps(status, sort_keys=True)
        if text == self._published or self.gone:
            return
        for attempt in range(5):
            try:
                self.agent.api.request("PATCH", pod_path(self.ns, self.name, "/status"),
                                       body={"status": status}, content_type=SMP)
                self._published = text
                return
            except ApiError as e:
                if e.status == 404:
                    self.gone = True
                    return
                log.warning("pod %s/%s: status update failed: %s", self.ns, self.name, e)
                if 400 <= e.status < 500 and e.status not in (409, 429):
                    return
            except Exception as e:  # noqa: BLE001 - connection trouble: retry
                log.warning("pod %s/%s: status update failed: %s", self.ns, self.name, e)
            time.sleep(min(2 ** attempt * 0.2, 3))

    # -- volumes --

    def _prepare_volumes(self) -> bool:
        """Materialize every volume; waits (reporting why) while a source is missing."""
        while not self.stopping():
            try:
                for v in self.spec.get("volumes") or []:
                    self.volumes[v["name"]] = self._volume(v)
                return True
            except (MountError, ApiError, ValueError, OSError) as e:
                msg = f"MountVolume.SetUp failed: {e}"
                for st in self.statuses.values():
                    st["state"] = {"waiting": {"reason": "ContainerCreating", "message": msg}}
                self.publish()
                self.wake.wait(3)
                self.wake.clear()
        return False

    def _volume(self, v: dict[str, Any]) -> Path:
        name = v["name"]
        vdir = self.dir / "volumes" / name
        api = self.agent.api
        if "emptyDir" in v:
            vdir.mkdir(parents=True, exist_ok=True)
            return vdir
        if "hostPath" in v:
            hp = v["hostPath"]
            path, kind = Path(hp["path"]), hp.get("type") or ""
            if kind == "DirectoryOrCreate":
                path.mkdir(parents=True, exist_ok=True)
            elif kind == "FileOrCreate":
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch(exist_ok=True)
            elif kind in ("Directory", "File") and not path.exists():
                raise MountError(f"hostPath {path} does not exist")
            return path
        if "persistentVolumeClaim" in v:
            claim = v["persistentVolumeClaim"]["claimName"]
            pvc = api.get(f"/api/v1/namespaces/{self.ns}/persistentvolumeclaims/{claim}")
            pv_name = pvc.get("spec", {}).get("volumeName")
            if pv_name:
                pv = api.get(f"/api/v1/persistentvolumes/{pv_name}")["spec"]
                local = (pv.get("hostPath") or pv.get("local") or {}).get("path")
                if local:
                    Path(local).mkdir(parents=True, exist_ok=True)
                    return Path(local)
            path = self.agent.state_dir / "pvc" / self.ns / claim
            path.mkdir(parents=True, exist_ok=True)
            return path
        files: dict[str, tuple[bytes, int]] = {}
        if "configMap" in v:
            src = v["configMap"]
            files = self._keyed_files("configmaps", src, src.get("name"), src.get("defaultMode", 0o644))
        elif "secret" in v:
            src = v["secret"]
            files = self._keyed_files("secrets", src, src.get("secretName"), src.get("defaultMode", 0o644))
        elif "downwardAPI" in v:
            src = v["downwardAPI"]
            files = self._downward_files(src.get("items") or [], src.get("defaultMode", 0o644))
        elif "projected" in v:
            files = self._projected_files(v["projected"])
        else:
            kinds = sorted(k for k in v if k != "name")
            raise MountError(f"volume {name}: type {kinds} is not supported by the local node agent")
        vdir.mkdir(parents=True, exist_ok=True)
        for rel, (data, mode) in files.items():
            write_file(vdir / rel, data, mode)
        return vdir

    def _keyed_files(self, kind: str, src: dict[str, Any], obj_name: str | None,
                     default_mode: int) -> dict[str, tuple[bytes, int]]:
        try:
            obj = self.agent.api.get(f"/api/v1/namespaces/{self.ns}/{kind}/{obj_name}")
        except ApiError as e:
            if e.status == 404 and src.get("optional"):
                return {}
            if e.status == 404:
                raise MountError(f'{kind[:-1]} "{obj_name}" not found') from None
            raise
        data = {k: (base64.b64decode(val) if kind == "secrets" else val.encode())
                for k, val in (obj.get("data") or {}).items()}
        data.update({k: base64.b64decode(val) for k, val in (obj.get("binaryData") or {}).items()})
        items = src.get("items")
        if not items:
            return {k: (val, default_mode) for k, val in data.items()}
        out = {}
        for item in items:
            if item["key"] not in data:
                if src.get("optional"):
                    continue
                raise MountError(f'key "{item["key"]}" not found in {kind[:-1]} "{obj_name}"')
            out[item["path"]] = (data[item["key"]], item.get("mode", default_mode))
        return out

    def _downward_files(self, items: list[dict[str, Any]], default_mode: int) -> dict[str, tuple[bytes, int]]:
        out = {}
        for item in items:
            if "fieldRef" in item:
                value = field_value(self.pod, item["fieldRef"]["fieldPath"])
            else:
                ref = item["resourceFieldRef"]
                value = self.agent.resource_value(self.pod, ref.get("containerName"), ref)
            out[item["path"]] = (value.encode(), item.get("mode", default_mode))
        return out

    def _projected_files(self, proj: dict[str, Any]) -> dict[str, tuple[bytes, int]]:
        mode = proj.get("defaultMode", 0o644)
        out: dict[str, tuple[bytes, int]] = {}
        for source in proj.get("sources") or []:
            if "configMap" in source:
                out.update(self._keyed_files("configmaps", source["configMap"], source["configMap"].get("name"), mode))
            elif "secret" in source:
                out.update(self._keyed_files("secrets", source["secret"], source["secret"].get("name"), mode))
            elif "downwardAPI" in source:
                out.update(self._downward_files(source["downwardAPI"].get("items") or [], mode))
            elif "serviceAccountToken" in source:
                out[source["serviceAccountToken"]["path"]] = (self._token(source["serviceAccountToken"]), mode)
        return out

    def _token(self, src: dict[str, Any]) -> bytes:
        """A bound token for the pod's service account, via the TokenRequest API (as kubelet does)."""
        sa = self.spec.get("serviceAccountName") or "default"
        expiration = int(src.get("expirationSeconds") or 3600)
        spec: dict[str, Any] = {
            "expirationSeconds": expiration,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid},
        }
        if src.get("audience"):
            spec["audiences"] = [src["audience"]]
        resp = self.agent.api.request(
            "POST", f"/api/v1/namespaces/{self.ns}/serviceaccounts/{sa}/token",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
        expires = parse_time(resp["status"].get("expirationTimestamp")) or time.time() + expiration
        # kubelet refreshes at 80% of the token's life
        self.token_refresh = min(self.token_refresh, time.time() + 0.8 * (expires - time.time()))
        return resp["status"]["token"].encode()

    def _refresh_tokens(self) -> None:
        if time.time() < self.token_refresh:
            return
        self.token_refresh = math.inf
        for v in self.spec.get("volumes") or []:
            if "projected" in v and any("serviceAccountToken" in s for s in v["projected"].get("sources") or []):
                try:
                    self._volume(v)
                except Exception as e:  # noqa: BLE001 - keep the old token, try again soon
                    log.warning("pod %s/%s: token refresh failed: %s", self.ns, self.name, e)
                    self.token_refresh = time.time() + 30

    def _mounts(self, c: dict[str, Any], env: dict[str, str]) -> list[dict[str, Any]]:
        mounts = []
        for vm in c.get("volumeMounts") or []:
            source = self.volumes.get(vm["name"])
            if source is None:
                raise MountError(f"volumeMount {vm['name']!r} refers to no volume of the pod")
            sub = vm.get("subPath") or (expand(vm["subPathExpr"], env) if vm.get("subPathExpr") else "")
            if sub:
                if ".." in Path(sub).parts or sub.startswith("/"):
                    raise MountError(f"subPath {sub!r} must be a relative path inside the volume")
                source = source / sub
                if not source.exists():
                    source.mkdir(parents=True, exist_ok=True)
            mounts.append({"source": str(source), "target": vm["mountPath"], "readOnly": bool(vm.get("readOnly"))})
        return mounts


# --- container logs (the part of the kubelet API that `kubectl logs` uses) -----------


class LogServer:
    """Serves /containerLogs/<ns>/<pod>/<container> over HTTPS for the API server.

    The API server proxies `kubectl logs` to the node's daemonEndpoints port
    without verifying the certificate (no --kubelet-certificate-authority), so
    a self-signed one will do. It listens on loopback only.
    """

    def __init__(self, agent: Agent) -> None:
        import http.server
        import ssl

        self.agent = agent
        cert, key = _self_signed(agent.state_dir / "serving")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                log.debug("logs: " + format, *args)

            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                server.handle(self)

        self.httpd = http.server.ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]

    def serve(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, name="logs", daemon=True).start()

    def handle(self, req: Any) -> None:
        from urllib.parse import parse_qs

        url = urlparse(req.path)
        parts = url.path.strip("/").split("/")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if len(parts) != 4 or parts[0] != "containerLogs":
            return self._reply(req, 404, b"only /containerLogs is served by the local node agent\n")
        _, ns, pod, container = parts
        path = self.agent.logs_dir / f"{ns}_{pod}_{container}.log"
        if not path.exists():
            return self._reply(req, 404, f"no log for container {container} of pod {ns}/{pod}\n".encode())
        data = path.read_bytes()
        tail = int(query.get("tailLines", -1))
        if tail >= 0:
            data = b"".join(data.splitlines(keepends=True)[-tail:]) if tail else b""
        if "limitBytes" in query:
            data = data[:int(query["limitBytes"])]
        if query.get("follow") != "true":
            return self._reply(req, 200, data)
        req.send_response(200)
        req.send_header("Content-Type", "text/plain")
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        offset = path.stat().st_size
        try:
            self._chunk(req, data)
            while not self.agent.stop.is_set():
                with open(path, "rb") as f:
                    f.seek(offset)
                    more = f.read()
                offset += len(more)
                self._chunk(req, more)
                if not more and not self.agent.running(ns, pod, container):
                    break
                time.sleep(0.5)
            req.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client went away

    @staticmethod
    def _chunk(req: Any, data: bytes) -> None:
        if data:
            req.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            req.wfile.flush()

    @staticmethod
    def _reply(req: Any, code: int, body: bytes) -> None:
        req.send_response(code)
        req.send_header("Content-Type", "text/plain")
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        req.wfile.write(body)


def _self_signed(prefix: Path) -> tuple[str, str]:
    from datetime import timedelta
    from ipaddress import ip_address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_file, key_file = prefix.with_suffix(".crt"), prefix.with_suffix(".key")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tda-node-agent")])
    start = datetime.now(UTC) - timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address(LOOPBACK))]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    write_file(key_file, key_pem, 0o600)
    write_file(cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return str(cert_file), str(key_file)


# --- the agent -----------------------------------------------------------------


class Agent:
    def __init__(self, api: Kube, node_name: str, state_dir: Path, api_port: int) -> None:
        self.api = api
        self.node_name = node_name
        self.state_dir = state_dir
        self.logs_dir = state_dir / "logs"
        self.api_port = api_port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.workers: dict[str, PodWorker] = {}
        self.finished: dict[str, float] = {}  # uid -> when; pods this agent already ran to the end
        self.cpus = len(os.sched_getaffinity(0))
        self.memory = _memory_bytes()
        self.node_uid = ""
        self.version = "v0.0.0"
        self.ready = False
        self.kubelet_port = 10250

    # -- node --

    def capacity(self) -> dict[str, str]:
        return {"cpu": str(self.cpus), "memory": f"{self.memory // 1024}Ki", "pods": "110",
                "ephemeral-storage": f"{shutil.disk_usage(self.state_dir).total // 1024}Ki"}

    def register(self) -> None:
        labels = {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": _arch(), "beta.kubernetes.io/os": "linux",
                  "beta.kubernetes.io/arch": _arch(), "node.kubernetes.io/instance-type": "tda-local"}
        try:
            node = self.api.request("POST", "/api/v1/nodes", body={
                "apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node_name, "labels": labels}})
        except ApiError as e:
            if e.status != 409:
                raise
            node = self.api.request("PATCH", f"/api/v1/nodes/{self.node_name}",
                                    body={"metadata": {"labels": labels}, "spec": {"unschedulable": False}},
                                    content_type=MERGE)
        self.node_uid = node["metadata"]["uid"]
        self.version = self.api.get("/version").get("gitVersion", "v0.0.0")
        self.update_node_status()
        log.info("node %s registered (%d CPUs, %d MiB)", self.node_name, self.cpus, self.memory >> 20)

    def update_node_status(self) -> None:
        t = now()
        conditions = [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
             "message": "the node agent has sufficient memory available"},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
             "message": "the node agent has no disk pressure"},
            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
             "message": "the node agent has sufficient PID available"},
            {"type": "Ready", "status": "True", "reason": "KubeletReady",
             "message": "the local node agent is posting ready status"},
        ]
        for c in conditions:
            c["lastHeartbeatTime"] = t
            if not self.ready:
                c["lastTransitionTime"] = t
        uname = platform.uname()
        status = {
            "capacity": self.capacity(), "allocatable": self.capacity(), "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": LOOPBACK},
                          {"type": "Hostname", "address": self.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "nodeInfo": {
                "machineID": _read("/etc/machine-id"), "systemUUID": _read("/etc/machine-id"),
                "bootID": _read("/proc/sys/kernel/random/boot_id"), "kernelVersion": uname.release,
                "osImage": _os_image(), "containerRuntimeVersion": "tda-node-agent://0.1.0",
                "kubeletVersion": self.version, "kubeProxyVersion": "", "operatingSystem": "linux",
                "architecture": _arch()},
        }
        node = self.api.request("PATCH", f"/api/v1/nodes/{self.node_name}/status",
                                body={"status": status}, content_type=SMP)
        self.ready = True
        # The node lifecycle controller taints a node that is not (yet) Ready; once it
        # is, drop those taints straight away instead of waiting for its next pass.
        taints = node.get("spec", {}).get("taints") or []
        keep = [t for t in taints if t.get("key") not in
                ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")]
        if len(keep) != len(taints):
            with contextlib.suppress(ApiError):
                self.api.request("PATCH", f"/api/v1/nodes/{self.node_name}", content_type=MERGE, body={
                    "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                    "spec": {"taints": keep or None}})

    def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases/{self.node_name}"
        spec = {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now_micro()}
        try:
            lease = self.api.get(path)
        except ApiError as e:
            if e.status != 404:
                raise
            self.api.request("POST", f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases", body={
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.node_name, "namespace": LEASE_NAMESPACE, "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": self.node_uid}]},
                "spec": spec})
            return
        lease["spec"].update(spec)
        self.api.request("PUT", path, body=lease)

    def heartbeat_loop(self) -> None:
        while not self.stop.is_set():
            for step in (self.renew_lease, self.update_node_status):
                try:
                    step()
                except Exception as e:  # noqa: BLE001 - keep beating; the API may be restarting
                    log.warning("heartbeat: %s: %s", step.__name__, e)
                    if isinstance(e, ApiError) and e.status == 404 and step is self.update_node_status:
                        with contextlib.suppress(Exception):
                            self.register()
            self.stop.wait(HEARTBEAT_SECONDS)

    # -- pods --

    def pod_loop(self) -> None:
        selector = {"fieldSelector": f"spec.nodeName={self.node_name}"}
        while not self.stop.is_set():
            try:
                listing = self.api.get("/api/v1/pods", **selector)
                live = {p["metadata"]["uid"] for p in listing["items"]}
                for pod in listing["items"]:
                    self.dispatch("MODIFIED", pod)
                with self.lock:
                    lost = [w for uid, w in self.workers.items() if uid not in live]
                for w in lost:
                    w.deleted()
                self._remove_stale_dirs(live)
                rv = listing["metadata"]["resourceVersion"]
                while not self.stop.is_set():
                    for event in self.api.watch("/api/v1/pods", dict(selector, resourceVersion=rv,
                                                                   timeoutSeconds=290)):
                        obj = event["object"]
                        if event["type"] == "ERROR":
                            raise ApiError(obj.get("code", 500), obj.get("message", ""))
                        rv = obj["metadata"].get("resourceVersion", rv)
                        if event["type"] != "BOOKMARK":
                            self.dispatch(event["type"], obj)
                        if self.stop.is_set():
                            break
            except Exception as e:  # noqa: BLE001 - re-list (410 Gone included) after a pause
                if not self.stop.is_set():
                    log.warning("pod watch: %s; re-listing", e)
                    self.stop.wait(1.0)

    def dispatch(self, kind: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            if worker is not None:
                worker.deleted() if kind == "DELETED" else worker.update(pod)
                return
            if (kind == "DELETED" or uid in self.finished or self.stop.is_set()
                    or pod.get("status", {}).get("phase") in TERMINAL):
                return
            if pod["metadata"].get("deletionTimestamp"):
                # Never started here: nothing to stop, just let it go.
                threading.Thread(target=self._delete_now, args=(pod,), daemon=True).start()
                return
            worker = PodWorker(self, pod)
            self.workers[uid] = worker
        worker.start()

    def _delete_now(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(ApiError):
            self.api.request("DELETE", pod_path(meta["namespace"], meta["name"]),
                             body={"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})

    def running(self, ns: str, pod: str, container: str) -> bool:
        with self.lock:
            return any(w.ns == ns and w.name == pod and container in w.running for w in self.workers.values())

    def worker_done(self, worker: PodWorker) -> None:
        with self.lock:
            self.workers.pop(worker.uid, None)
            if not self.stop.is_set():
                self.finished[worker.uid] = time.time()
            cutoff = time.time() - 3600
            for uid in [u for u, t in self.finished.items() if t < cutoff]:
                del self.finished[uid]

    def _remove_stale_dirs(self, live: set[str]) -> None:
        pods_dir = self.state_dir / "pods"
        if not pods_dir.is_dir():
            return
        with self.lock:
            active = set(self.workers)
        for d in pods_dir.iterdir():
            if d.name not in live and d.name not in active:
                shutil.rmtree(d, ignore_errors=True)

    # -- storage --

    def ensure_storage_class(self) -> None:
        """StorageClass `tda-local`, the default unless the cluster already has one."""
        classes = self.api.get("/apis/storage.k8s.io/v1/storageclasses")["items"]
        if any(c["metadata"]["name"] == STORAGE_CLASS for c in classes):
            return
        has_default = any((c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
                          for c in classes)
        with contextlib.suppress(ApiError):
            self.api.request("POST", "/apis/storage.k8s.io/v1/storageclasses", body={
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": STORAGE_CLASS,
                             "annotations": {DEFAULT_CLASS_ANNOTATION: "false" if has_default else "true"}},
                "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})

    def provision(self) -> None:
        """A hostPath PV (a directory under state-dir/pvc) for every pending claim of our class."""
        for pvc in self.api.get("/api/v1/persistentvolumeclaims")["items"]:
            meta, spec = pvc["metadata"], pvc["spec"]
            if (pvc.get("status", {}).get("phase") != "Pending" or spec.get("volumeName")
                    or spec.get("storageClassName") != STORAGE_CLASS):
                continue
            path = self.state_dir / "pvc" / meta["namespace"] / meta["name"]
            with contextlib.suppress(ApiError):  # 409: made on an earlier pass, the PV controller binds it
                self.api.request("POST", "/api/v1/persistentvolumes", body={
                    "apiVersion": "v1", "kind": "PersistentVolume",
                    "metadata": {"name": f"pvc-{meta['uid']}",
                                 "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
                    "spec": {
                        "capacity": {"storage": (spec.get("resources") or {}).get("requests", {}).get(
                            "storage", "1Gi")},
                        "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                        "persistentVolumeReclaimPolicy": "Delete",
                        "storageClassName": STORAGE_CLASS,
                        "volumeMode": spec.get("volumeMode", "Filesystem"),
                        "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                     "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}}})
                log.info("provisioned %s for claim %s/%s", path, meta["namespace"], meta["name"])
        for pv in self.api.get("/api/v1/persistentvolumes")["items"]:
            ours = (pv["metadata"].get("annotations") or {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER
            if ours and pv.get("status", {}).get("phase") == "Released" \
                    and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
                shutil.rmtree(pv["spec"]["hostPath"]["path"], ignore_errors=True)
                with contextlib.suppress(ApiError):
                    self.api.request("DELETE", f"/api/v1/persistentvolumes/{pv['metadata']['name']}")

    def storage_loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.ensure_storage_class()
                self.provision()
            except Exception as e:  # noqa: BLE001 - try again on the next pass
                log.warning("volume provisioning: %s", e)
            self.stop.wait(2.0)

    # -- env --

    def base_env(self, pod: dict[str, Any]) -> dict[str, str]:
        bindir = os.path.dirname(sys.executable)
        path = os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        port = str(self.api_port)
        return {
            "PATH": f"{bindir}:{path}",
            "HOME": "/root",
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "HOSTNAME": (pod["spec"].get("hostname") or pod["metadata"]["name"])[:63],
            "KUBERNETES_SERVICE_HOST": LOOPBACK,
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
            "KUBERNETES_PORT": f"tcp://{LOOPBACK}:{port}",
            f"KUBERNETES_PORT_{port}_TCP": f"tcp://{LOOPBACK}:{port}",
            f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
            f"KUBERNETES_PORT_{port}_TCP_PORT": port,
            f"KUBERNETES_PORT_{port}_TCP_ADDR": LOOPBACK,
        }

    def container_env(self, pod: dict[str, Any], c: dict[str, Any]) -> dict[str, str]:
        ns = pod["metadata"]["namespace"]
        env = self.base_env(pod)
        for src in c.get("envFrom") or []:
            prefix = src.get("prefix", "")
            kind, ref = ("configmaps", src["configMapRef"]) if "configMapRef" in src else ("secrets", src["secretRef"])
            data = self._object_data(ns, kind, ref["name"], bool(ref.get("optional")))
            if data is not None:
                env.update({prefix + k: v for k, v in data.items()})
        for item in c.get("env") or []:
            name = item["name"]
            if "valueFrom" not in item:
                env[name] = expand(item.get("value", ""), env)
                continue
            vf = item["valueFrom"]
            if "fieldRef" in vf:
                env[name] = field_value(pod, vf["fieldRef"]["fieldPath"])
            elif "resourceFieldRef" in vf:
                env[name] = self.resource_value(pod, vf["resourceFieldRef"].get("containerName") or c["name"],
                                                vf["resourceFieldRef"])
            elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
                kind, ref = (("configmaps", vf["configMapKeyRef"]) if "configMapKeyRef" in vf
                             else ("secrets", vf["secretKeyRef"]))
                data = self._object_data(ns, kind, ref["name"], bool(ref.get("optional")))
                if data is not None and ref["key"] in data:
                    env[name] = data[ref["key"]]
                elif not ref.get("optional"):
                    raise MountError(f'couldn\'t find key {ref["key"]} in {kind[:-1]} {ns}/{ref["name"]}')
            else:
                raise ValueError(f"env {name}: unsupported valueFrom {sorted(vf)}")
        return env

    def _object_data(self, ns: str, kind: str, name: str, optional: bool) -> dict[str, str] | None:
        try:
            obj = self.api.get(f"/api/v1/namespaces/{ns}/{kind}/{name}")
        except ApiError as e:
            if e.status == 404:
                if optional:
                    return None
                raise MountError(f'{kind[:-1]} "{name}" not found') from None
            raise
        data = obj.get("data") or {}
        if kind == "secrets":
            return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}
        return dict(data)

    def resource_value(self, pod: dict[str, Any], container: str | None, ref: dict[str, Any]) -> str:
        """resourceFieldRef as kubelet computes it: unset limits are the node's allocatable."""
        containers = pod["spec"]["containers"] + (pod["spec"].get("initContainers") or [])
        c = next((x for x in containers if x["name"] == container), pod["spec"]["containers"][0])
        kind, _, res = ref["resource"].partition(".")
        value = ((c.get("resources") or {}).get(kind) or {}).get(res)
        if value is None:
            value = self.capacity().get(res, "0") if kind == "limits" else "0"
        divisor = parse_quantity(ref.get("divisor") or "1") or 1.0
        return str(math.ceil(parse_quantity(value) / divisor))

    # -- lifetime --

    def run(self) -> None:
        (self.state_dir / "pods").mkdir(parents=True, exist_ok=True)
        # Two agents on one state directory would kill each other's containers.
        self._lock = open(self.state_dir / "agent.lock", "w")  # noqa: SIM115 - held for the agent's life
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"tda-node-agent: another agent is running on {self.state_dir}") from None
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        kill_pod_processes(self.state_dir)
        logs = LogServer(self)
        self.kubelet_port = logs.port
        logs.serve()
        while not self.stop.is_set():
            try:
                self.register()
                break
            except Exception as e:  # noqa: BLE001 - the API server may still be starting
                log.warning("registering the node: %s", e)
                self.stop.wait(2)
        threads = [threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True),
                   threading.Thread(target=self.pod_loop, name="pods", daemon=True),
                   threading.Thread(target=self.storage_loop, name="storage", daemon=True)]
        for t in threads:
            t.start()
        while not self.stop.wait(1.0):
            pass
        log.info("stopping: terminating pod processes")
        with self.lock:
            workers = list(self.workers.values())
        for w in workers:
            w.wake.set()
        for w in workers:
            w.join(timeout=SHUTDOWN_GRACE_SECONDS + 10)
        kill_pod_processes(self.state_dir)


def _memory_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--exec-helper"]:
        exec_helper(args[1])
        return
    parser = argparse.ArgumentParser(prog="tda-node-agent", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--api-server", help="URL of the API server (default: the kubeconfig's)")
    parser.add_argument("--ca-file", help="CA bundle of the API server (default: the kubeconfig's)")
    parser.add_argument("--node-name", default="tda-local")
    parser.add_argument("-v", "--verbose", action="store_true")
    opts = parser.parse_args(args)
    logging.basicConfig(level=logging.DEBUG if opts.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(threadName)s: %(message)s")
    if os.geteuid() != 0:
        parser.error("the node agent needs root (it creates mount namespaces)")
    api = Kube(opts.kubeconfig, opts.api_server, opts.ca_file)
    port = urlparse(api.base).port or 443
    agent = Agent(api, opts.node_name, opts.state_dir.resolve(), port)

    def on_signal(signum: int, _frame: Any) -> None:
        agent.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.run()


if __name__ == "__main__":
    main()
