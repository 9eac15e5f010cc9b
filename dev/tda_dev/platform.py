"""The local platform: a real control plane on loopback, its node agent, and our CRDs.

`up()` walks COMPONENTS in order; each is a detached process (own session,
log under <state>/logs) or a one-shot step, with a readiness check. Later
parts of the platform (operator, object store, ...) append to COMPONENTS.
What was started is recorded in <state>/state.json so that `down()` can stop
exactly that, and a second `up()` can tell a healthy platform from a stale one.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import chart_service, kafka, node_agent, objectstore, paths
from .binaries import ensure_binaries
from .net import LOOPBACK, free_port
from .pki import Pki, ensure_pki

NODE_NAME = "tda-local"
SERVICE_CIDR = "10.96.0.0/16"


class PlatformError(RuntimeError):
    pass


@dataclass(frozen=True)
class PlatformInfo:
    kubeconfig: Path
    api_url: str
    state_dir: Path | None  # None: an existing cluster (TDA_KUBECONFIG), not ours
    ca_file: Path | None = None

    @property
    def external(self) -> bool:
        return self.state_dir is None


@dataclass
class Context:
    """What components need to build their command lines and check readiness."""

    state_dir: Path
    state: dict[str, Any]
    _bins: dict[str, Path] | None = None

    @property
    def bins(self) -> dict[str, Path]:
        if self._bins is None:
            self._bins = ensure_binaries()
        return self._bins

    @property
    def pki(self) -> Pki:
        return Pki(self.state_dir / "pki")

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def api_url(self) -> str:
        return f"https://{LOOPBACK}:{self.port('apiserver')}"

    def path(self, *parts: str) -> Path:
        return self.state_dir.joinpath(*parts)

    def port(self, name: str) -> int:
        """A loopback port for `name`, chosen once per platform and recorded."""
        ports = self.state.setdefault("ports", {})
        if name not in ports:
            fixed = os.environ.get(f"TDA_{name.upper().replace('-', '_')}_PORT")
            ports[name] = _check_port(int(fixed), name) if fixed else free_port()
        return int(ports[name])

    def api_get(self, path: str, timeout: float = 5.0) -> Any:
        """GET from the API server as the admin; JSON decoded."""
        ctx = ssl.create_default_context(cafile=str(self.pki.ca))
        ctx.load_cert_chain(self.pki.cert("admin"), self.pki.key("admin"))
        with urllib.request.urlopen(self.api_url + path, context=ctx, timeout=timeout) as r:
            body = r.read()
        return json.loads(body) if body.startswith(b"{") else body.decode()

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bins["kubectl"]), "--kubeconfig", str(self.kubeconfig), *args]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise PlatformError(f"{' '.join(cmd[3:])} failed:\n{result.stderr.strip()}")
        return result


@dataclass
class Component:
    """One part of the platform.

    With `argv`, a long-running process started detached; without, a one-shot
    step done by `setup`. `setup` also runs before a process starts (files it needs).
    """

    name: str
    ready: Callable[[Context], bool]
    argv: Callable[[Context], list[str]] | None = None
    setup: Callable[[Context], None] | None = None
    env: Callable[[Context], dict[str, str]] = field(default=lambda ctx: {})
    enabled: Callable[[Context], bool] = field(default=lambda ctx: True)
    timeout: float = 90.0  # seconds to become ready
    stop_grace: float = 5.0  # seconds between SIGTERM and SIGKILL
    # Holds no cluster state: when only such components died, `up()` restarts just them.
    restartable: bool = False


# --- ports -------------------------------------------------------------------


def _check_port(port: int, name: str) -> int:
    with socket.socket() as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise PlatformError(
                    f"port {port} on {LOOPBACK} (for {name}) is busy: another program listens there. "
                    f"Stop it, or unset TDA_{name.upper().replace('-', '_')}_PORT to pick a free port."
                ) from None
            raise
    return port


# --- health checks -----------------------------------------------------------


def _http_ok(url: str, verify: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, context=verify, timeout=3) as r:
            return r.status == 200
    except OSError:
        return False


def _insecure() -> ssl.SSLContext:
    # controller-manager and scheduler serve /healthz with a self-signed certificate.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _api_ready(ctx: Context) -> bool:
    try:
        return ctx.api_get("/readyz") == "ok"
    except OSError:
        return False


def _node_ready(ctx: Context) -> bool:
    try:
        node = ctx.api_get(f"/api/v1/nodes/{NODE_NAME}")
    except OSError:
        return False
    conditions = node.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


# --- kubeconfigs -------------------------------------------------------------


def _write_kubeconfig(ctx: Context, path: Path, client: str, user: str) -> None:
    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NODE_NAME, "cluster": {
            "server": ctx.api_url, "certificate-authority-data": b64(ctx.pki.ca)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": b64(ctx.pki.cert(client)),
            "client-key-data": b64(ctx.pki.key(client))}}],
        "contexts": [{"name": NODE_NAME, "context": {"cluster": NODE_NAME, "user": user}}],
        "current-context": NODE_NAME,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)


def _component_kubeconfig(ctx: Context, client: str) -> Path:
    return ctx.path("kubeconfigs", f"{client}.kubeconfig")


# --- the components ----------------------------------------------------------


def _etcd(ctx: Context) -> list[str]:
    client = f"http://{LOOPBACK}:{ctx.port('etcd')}"
    peer = f"http://{LOOPBACK}:{ctx.port('etcd-peer')}"
    return [
        str(ctx.bins["etcd"]),
        "--name=default",
        f"--data-dir={ctx.path('etcd')}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        # A throw-away development store: durability is not worth the fsyncs.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


#: Who did what, for the operator's own requests and for every Secret access: the
#: confused-deputy tests and the operator benchmark read it.
AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: ["system:serviceaccount:tda-system:tda-operator"]
  - level: Metadata
    resources: [{group: "", resources: ["secrets"]}]
  - level: None
"""


def audit_log(ctx: Context) -> Path:
    return ctx.path("logs", "audit.log")


def _apiserver_setup(ctx: Context) -> None:
    ensure_pki(ctx.pki.dir)
    ctx.path("audit-policy.yaml").write_text(AUDIT_POLICY)
    audit_log(ctx).parent.mkdir(parents=True, exist_ok=True)
    _write_kubeconfig(ctx, ctx.kubeconfig, "admin", "tda-admin")
    _write_kubeconfig(ctx, _component_kubeconfig(ctx, "controller-manager"), "controller-manager",
                      "system:kube-controller-manager")
    _write_kubeconfig(ctx, _component_kubeconfig(ctx, "scheduler"), "scheduler", "system:kube-scheduler")


def _apiserver(ctx: Context) -> list[str]:
    pki = ctx.pki
    return [
        str(ctx.bins["kube-apiserver"]),
        f"--etcd-servers=http://{LOOPBACK}:{ctx.port('etcd')}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        # The reconciler refuses a loopback address for the `kubernetes` Endpoints;
        # pods reach the API server on loopback directly (KUBERNETES_SERVICE_HOST).
        "--endpoint-reconciler-type=none",
        f"--secure-port={ctx.port('apiserver')}",
        f"--tls-cert-file={pki.cert('apiserver')}",
        f"--tls-private-key-file={pki.key('apiserver')}",
        f"--client-ca-file={pki.ca}",
        f"--cert-dir={ctx.path('apiserver')}",
        "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        f"--audit-policy-file={ctx.path('audit-policy.yaml')}",
        f"--audit-log-path={audit_log(ctx)}",
        "--audit-log-maxsize=200",
        "--audit-log-maxbackup=1",
        # The node's name resolves nowhere; its InternalIP is loopback.
        "--kubelet-preferred-address-types=InternalIP",
    ]


def _delegated(ctx: Context, client: str, port_name: str) -> list[str]:
    """Flags shared by controller-manager and scheduler: identity and serving."""
    kubeconfig = _component_kubeconfig(ctx, client)
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={ctx.port(port_name)}",
        f"--cert-dir={ctx.path(client)}",
        "--leader-elect=false",
    ]


def _controller_manager(ctx: Context) -> list[str]:
    pki = ctx.pki
    return [
        str(ctx.bins["kube-controller-manager"]),
        *_delegated(ctx, "controller-manager", "controller-manager"),
        "--controllers=*",
        "--use-service-account-credentials=true",
        # Upstream's defaults (5 Jobs synced at once, 20 requests/s per controller) make the Job
        # controller the bottleneck of a burst of TDAJobs: each sync waits on a few requests,
        # and finished pods wait for their Job's status. Production control planes raise both.
        "--concurrent-job-syncs=50",
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.ca}",
        f"--cluster-signing-cert-file={pki.ca}",
        f"--cluster-signing-key-file={pki.key('ca')}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
    ]


def _scheduler(ctx: Context) -> list[str]:
    return [str(ctx.bins["kube-scheduler"]), *_delegated(ctx, "scheduler", "scheduler")]


def _node_agent_present(ctx: Context) -> bool:
    if importlib.util.find_spec("tda_dev.node_agent") is None:
        _say("warning: tda_dev.node_agent is not there yet; no node will run pods")
        return False
    return True


def _node_agent(ctx: Context) -> list[str]:
    return [
        sys.executable, "-m", "tda_dev.node_agent",
        "--kubeconfig", str(ctx.kubeconfig),
        "--state-dir", str(ctx.path("node")),
        "--api-server", ctx.api_url,
        "--ca-file", str(ctx.pki.ca),
        "--node-name", NODE_NAME,
    ]


def _install_thirdparty_crds(ctx: Context) -> None:
    """Strimzi's KafkaTopic and the Flink operator's FlinkDeployment CRDs: the real schemas."""
    from . import thirdparty_crds

    files = thirdparty_crds.ensure()
    args = [a for f in files for a in ("-f", str(f))]
    ctx.kubectl("apply", "--server-side", "--force-conflicts", *args)
    deadline = time.monotonic() + 60
    # `wait` fails outright while a fresh CRD has no status yet: ask again.
    while ctx.kubectl("wait", "--for=condition=Established", "--timeout=10s", *args, check=False).returncode:
        if time.monotonic() > deadline:
            raise PlatformError("the Strimzi and Flink CRDs did not become Established within 60 s")
        time.sleep(1)
    ctx.state["thirdparty-crds"] = thirdparty_crds.key()


def _thirdparty_crds_installed(ctx: Context) -> bool:
    from . import thirdparty_crds

    return bool(ctx.state.get("thirdparty-crds") == thirdparty_crds.key())


def _strimzi_standin(ctx: Context) -> list[str]:
    return [sys.executable, "-m", "tda_dev.strimzi_standin", "--kubeconfig", str(ctx.kubeconfig),
            "--bootstrap", kafka.bootstrap(ctx), "--ready", str(ctx.path("strimzi-standin.ready"))]


def _strimzi_standin_setup(ctx: Context) -> None:
    ctx.path("strimzi-standin.ready").unlink(missing_ok=True)


def _flink_standin(ctx: Context) -> list[str]:
    return [sys.executable, "-m", "tda_dev.flink_standin", "--kubeconfig", str(ctx.kubeconfig),
            "--bootstrap", kafka.bootstrap(ctx), "--workdir", str(ctx.path("flink")),
            "--ready", str(ctx.path("flink-standin.ready"))]


def _flink_standin_setup(ctx: Context) -> None:
    from . import flink

    ctx.path("flink-standin.ready").unlink(missing_ok=True)
    flink.connector_jars()  # resolved once (Maven Central), before the stand-in needs it


def _healthz(port_name: str) -> Callable[[Context], bool]:
    return lambda ctx: _http_ok(f"https://{LOOPBACK}:{ctx.port(port_name)}/healthz", _insecure())


def _controllers_ready(ctx: Context) -> bool:
    # Healthy is not enough: pods are refused until the service-account
    # controllers have given `default` its ServiceAccount.
    if not _healthz("controller-manager")(ctx):
        return False
    try:
        ctx.api_get("/api/v1/namespaces/default/serviceaccounts/default")
    except OSError:
        return False
    return True


COMPONENTS: list[Component] = [
    Component("etcd", argv=_etcd,
              ready=lambda ctx: _http_ok(f"http://{LOOPBACK}:{ctx.port('etcd')}/health")),
    # The API server and controllers keep their state in etcd: a crashed one is simply started again.
    Component("kube-apiserver", argv=_apiserver, setup=_apiserver_setup, ready=_api_ready, restartable=True),
    Component("kube-controller-manager", argv=_controller_manager, ready=_controllers_ready, restartable=True),
    Component("kube-scheduler", argv=_scheduler, ready=_healthz("scheduler"), restartable=True),
    Component("node-agent", argv=_node_agent, enabled=_node_agent_present, ready=_node_ready,
              stop_grace=15.0, restartable=True),
    # S3-protocol store on loopback, then bucket `tda` + Secret `s3-creds` in `default`.
    Component(objectstore.COMPONENT, argv=objectstore.argv, ready=objectstore.serving, timeout=60.0,
              restartable=True),
    Component("object-store-bucket", setup=objectstore.setup_bucket, ready=objectstore.bucket_ready),
    # Kafka (a real KRaft broker), the real Strimzi and Flink CRDs, and the stand-ins for
    # Strimzi's topic operator and the Flink operator (both need container images).
    Component("thirdparty-crds", setup=_install_thirdparty_crds, ready=_thirdparty_crds_installed, timeout=600.0),
    Component(kafka.COMPONENT, argv=kafka.argv, setup=kafka.setup, ready=kafka.ready, timeout=120.0,
              stop_grace=15.0),
    Component("strimzi-standin", argv=_strimzi_standin, setup=_strimzi_standin_setup,
              ready=lambda ctx: ctx.path("strimzi-standin.ready").exists(), restartable=True),
    # The stand-in for the Flink Kubernetes Operator: each FlinkDeployment's job on real Flink.
    Component("flink-standin", argv=_flink_standin, setup=_flink_standin_setup, timeout=600.0,
              ready=lambda ctx: ctx.path("flink-standin.ready").exists(), restartable=True, stop_grace=20.0),
    # The Helm chart: our CRDs, the workers' admission policy, and the operator and REST facade
    # as pods on the local node under the chart's ServiceAccounts and RBAC
    # (TDA_DEV_OPERATOR=0 / TDA_DEV_API=0 leave either out).
    Component(chart_service.COMPONENT, setup=chart_service.install, ready=chart_service.ready, timeout=180.0),
]


# --- processes ---------------------------------------------------------------


def _say(msg: str) -> None:
    print(f"tda-dev: {msg}", file=sys.stderr, flush=True)


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def _alive(record: dict[str, int]) -> bool:
    """Whether the recorded process still runs (and its pid was not reused)."""
    stat = _proc_stat(record["pid"])
    return stat is not None and stat[1] == record["start"]


def _descendants(pids: set[int]) -> dict[int, int]:
    """Every live process below `pids`: pid -> start time."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))):
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found: dict[int, int] = {}
    todo = list(pids)
    while todo:
        for pid, start in children.get(todo.pop(), []):
            if pid not in found:
                found[pid] = start
                todo.append(pid)
    return found


def _spawn(ctx: Context, comp: Component) -> dict[str, int]:
    assert comp.argv is not None
    argv = comp.argv(ctx)
    log = ctx.path("logs", f"{comp.name}.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **comp.env(ctx))
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env, cwd=ctx.state_dir, start_new_session=True,
        )
    stat = _proc_stat(proc.pid)
    return {"pid": proc.pid, "start": stat[1] if stat else 0}


def _wait_ready(ctx: Context, comp: Component, record: dict[str, int] | None) -> None:
    deadline = time.monotonic() + comp.timeout
    while not _is_ready(comp, ctx):
        if record is not None and not _alive(record):
            raise PlatformError(f"{comp.name} exited during start-up:\n{_log_tail(ctx, comp.name)}")
        if time.monotonic() > deadline:
            raise PlatformError(f"{comp.name} not ready after {comp.timeout:.0f}s:\n{_log_tail(ctx, comp.name)}")
        time.sleep(0.25)


def _log_tail(ctx: Context, name: str, lines: int = 20) -> str:
    log = ctx.path("logs", f"{name}.log")
    if not log.exists():
        return "  (no log)"
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join("  | " + line for line in tail) + f"\n  (full log: {log})"


def _terminate(procs: dict[str, dict[str, int]], grace: dict[str, float]) -> None:
    """Stop the recorded processes, newest first, and everything they started."""
    for name in reversed(list(procs)):
        record = procs[name]
        if not _alive(record):
            continue
        # Pods run in sessions of their own: collect them before their parent goes.
        strays = _descendants({record["pid"]})
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record["pid"], signal.SIGTERM)
        deadline = time.monotonic() + grace.get(name, 5.0)
        while _alive(record) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(record["pid"], signal.SIGKILL)
        for pid, start in strays.items():
            if _alive({"pid": pid, "start": start}):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        while _alive(record):
            time.sleep(0.05)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(record["pid"], os.WNOHANG)  # reap it when it was our own child


def _unmount_below(path: Path) -> None:
    """Lazily unmount anything the node agent left mounted under `path`."""
    prefix = str(path.resolve()) + "/"
    mounts = [
        line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
    ]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)


def _remove(path: Path) -> None:
    if path.exists():
        _unmount_below(path)
        shutil.rmtree(path)


# --- state -------------------------------------------------------------------


def _load(state_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((state_dir / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def _save(ctx: Context) -> None:
    tmp = ctx.path("state.json.tmp")
    tmp.write_text(json.dumps(ctx.state, indent=2))
    tmp.replace(ctx.path("state.json"))


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _say(f"waiting for another tda-dev working on {state_dir} ...")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _info(ctx: Context) -> PlatformInfo:
    return PlatformInfo(ctx.kubeconfig, ctx.api_url, ctx.state_dir, ctx.pki.ca)


def _external() -> PlatformInfo | None:
    kubeconfig = os.environ.get("TDA_KUBECONFIG")
    if not kubeconfig:
        return None
    path = Path(kubeconfig).expanduser().resolve()
    if not path.is_file():
        raise PlatformError(f"TDA_KUBECONFIG={kubeconfig}: no such file")
    config = yaml.safe_load(path.read_text()) or {}
    current = config.get("current-context")
    context: dict[str, Any] = next((c["context"] for c in config.get("contexts", []) if c["name"] == current), {})
    cluster: dict[str, Any] = next((c["cluster"] for c in config.get("clusters", []) if c["name"] == context.get("cluster")), {})
    return PlatformInfo(path, cluster.get("server", ""), None)


def _is_ready(comp: Component, ctx: Context) -> bool:
    """A readiness check that fails (connection refused, ...) means "not ready"."""
    try:
        return bool(comp.ready(ctx))
    except Exception:
        return False


def _health(ctx: Context) -> dict[str, tuple[bool, bool]]:
    """name -> (running, ready) for each component that was started."""
    procs = ctx.state.get("processes", {})
    done = set(ctx.state.get("done", []))
    result = {}
    for comp in COMPONENTS:
        if comp.name in procs:
            running = _alive(procs[comp.name])
            result[comp.name] = (running, running and _is_ready(comp, ctx))
        elif comp.name in done:
            result[comp.name] = (True, _is_ready(comp, ctx))
    return result


# --- the public interface ----------------------------------------------------


def current() -> PlatformInfo | None:
    """The platform in use if one is up and healthy (or TDA_KUBECONFIG), else None."""
    if (external := _external()) is not None:
        return external
    state_dir = paths.state_dir()
    ctx = Context(state_dir, _load(state_dir))
    if not ctx.state.get("processes"):
        return None
    health = _health(ctx)
    if "kube-apiserver" in health and all(ready for _, ready in health.values()):
        return _info(ctx)
    return None


def up() -> PlatformInfo:
    """Start whatever is not running yet; return once everything is ready."""
    if (external := _external()) is not None:
        _say(f"using the existing cluster of TDA_KUBECONFIG={external.kubeconfig}; starting nothing")
        return external
    state_dir = paths.state_dir()
    with _locked(state_dir):
        ctx = Context(state_dir, _load(state_dir))
        _retire_unknown(ctx)
        if ctx.state.get("processes"):
            procs = ctx.state["processes"]
            health = _health(ctx)
            broken = [n for n, (_, ready) in health.items() if n in procs and not ready]
            restartable = {c.name for c in COMPONENTS if c.restartable}
            if broken and set(broken) <= restartable:
                _say(f"restarting {', '.join(broken)} (not running or not ready)")
                _terminate({n: procs.pop(n) for n in broken}, {c.name: c.stop_grace for c in COMPONENTS})
                ctx.state["done"] = [n for n in ctx.state.get("done", []) if health[n][1]]
                _save(ctx)
                _start(ctx)
                return _info(ctx)
            if broken:
                _say(f"stale state in {state_dir} ({', '.join(broken)} not running or not ready): "
                     "stopping what is left and starting afresh")
                _stop(ctx)
            else:
                # A step whose result went out of date (e.g. changed CRDs) runs again.
                ctx.state["done"] = [n for n in ctx.state.get("done", []) if health[n][1]]
                if not _pending(ctx):
                    _say(f"already running ({ctx.api_url}); state in {state_dir}")
                    return _info(ctx)
        if not ctx.state.get("processes"):
            _fresh(ctx)
        _start(ctx)
        return _info(ctx)


def _retire_unknown(ctx: Context) -> None:
    """Stop what an earlier version of the platform started that is no component now (e.g. the
    operator it ran as a local process, which the Helm chart's pod replaces), and forget its steps."""
    known = {c.name for c in COMPONENTS}
    procs = ctx.state.get("processes") or {}
    retired = {name: procs.pop(name) for name in list(procs) if name not in known}
    if retired:
        _say(f"stopping {', '.join(retired)} (no longer part of the platform)")
        _terminate(retired, {})
    ctx.state["done"] = [name for name in ctx.state.get("done", []) if name in known]
    if retired:
        _save(ctx)


def _pending(ctx: Context) -> list[Component]:
    started = set(ctx.state.get("processes", {})) | set(ctx.state.get("done", []))
    return [c for c in COMPONENTS if c.name not in started and c.enabled(ctx)]


def _fresh(ctx: Context) -> None:
    """A new cluster: empty etcd, empty node, new ports; certificates are kept. The broker and
    the Flink jobs' state go too: topics of KafkaTopics the new cluster does not have would be
    adopted with an old run's records and open transactions, which read_committed consumers
    wait behind."""
    for name in ("etcd", "node", "apiserver", "controller-manager", "scheduler", "logs", "kafka", "flink"):
        _remove(ctx.path(name))
    ctx.state = {"processes": {}, "done": []}
    ctx.bins  # noqa: B018 -- build or find the binaries before starting anything


def _start(ctx: Context) -> None:
    procs: dict[str, dict[str, int]] = ctx.state.setdefault("processes", {})
    done: list[str] = ctx.state.setdefault("done", [])
    started_all = time.monotonic()
    for comp in _pending(ctx):
        started = time.monotonic()
        _say(f"starting {comp.name} ...")
        try:
            if comp.setup:
                comp.setup(ctx)
            record = None
            if comp.argv:
                record = procs[comp.name] = _spawn(ctx, comp)
            else:
                done.append(comp.name)
            _save(ctx)
            _wait_ready(ctx, comp, record)
        except BaseException:
            # Half a platform is no use to anyone: stop it, keep the logs.
            _stop(ctx)
            raise
        _save(ctx)
        _say(f"{comp.name} ready ({time.monotonic() - started:.1f}s)")
    _say(f"up in {time.monotonic() - started_all:.1f}s: {ctx.api_url}, kubeconfig {ctx.kubeconfig}")


def _stop(ctx: Context) -> None:
    grace = {c.name: c.stop_grace for c in COMPONENTS}
    _terminate(ctx.state.get("processes", {}), grace)
    ctx.state["processes"] = {}
    ctx.state["done"] = []
    _save(ctx)


def down() -> None:
    """Stop everything `up` started; leaves logs and certificates for inspection."""
    if os.environ.get("TDA_KUBECONFIG"):
        _say("TDA_KUBECONFIG is set: the cluster is not ours to stop")
        return
    state_dir = paths.state_dir()
    if not (state_dir / "state.json").exists():
        _say("nothing to stop")
        return
    with _locked(state_dir):
        ctx = Context(state_dir, _load(state_dir))
        names = [n for n, r in ctx.state.get("processes", {}).items() if _alive(r)]
        _stop(ctx)
        # Last resort should the agent have been killed before its pods.
        node_agent.kill_pod_processes(ctx.path("node"))
        for name in ("etcd", "node"):
            _remove(ctx.path(name))
        _say(f"stopped {', '.join(names) or 'nothing (nothing was running)'}")


def status() -> bool:
    """Print each component's health; True when all are ready."""
    if (external := _external()) is not None:
        print(f"external cluster (TDA_KUBECONFIG): {external.kubeconfig} -> {external.api_url}")
        return True
    state_dir = paths.state_dir()
    ctx = Context(state_dir, _load(state_dir))
    if not ctx.state.get("processes"):
        print(f"not running (state dir {state_dir})")
        return False
    procs = ctx.state["processes"]
    health = _health(ctx)
    print(f"api server  {ctx.api_url}\nkubeconfig  {ctx.kubeconfig}\nstate dir   {state_dir}")
    for comp in COMPONENTS:
        if comp.name not in health:
            print(f"  {comp.name:<24} -")
            continue
        running, ready = health[comp.name]
        pid = f"pid {procs[comp.name]['pid']}" if comp.name in procs else "step"
        word = "ready" if ready else ("NOT READY" if running else "NOT RUNNING")
        print(f"  {comp.name:<24} {word:<12} {pid}")
    return bool(health) and all(ready for _, ready in health.values())


def env_lines() -> list[str]:
    """Shell lines that point kubectl and helm at the platform."""
    from .binaries import ENVTEST, bin_dir

    external = _external()
    kubeconfig = external.kubeconfig if external else paths.kubeconfig_path()
    dirs = [str(bin_dir())]
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and any((Path(assets) / n).exists() for n in ENVTEST):
        dirs.insert(0, assets)
    lines = [
        f"export KUBECONFIG={shlex.quote(str(kubeconfig))}",
        f'export PATH={shlex.quote(":".join(dirs))}:"$PATH"',
    ]
    if not external:
        with contextlib.suppress(kafka.KafkaError):
            lines.append(f"export TDA_KAFKA_BOOTSTRAP={kafka.bootstrap_servers()}")
        lines += _api_lines()
    return lines


def _api_lines() -> list[str]:
    """The REST facade's URL and a token of the demo user, when the platform runs the facade."""
    state_dir = paths.state_dir()
    ctx = Context(state_dir, _load(state_dir))
    if not chart_service.api_enabled() or chart_service.API_PORT not in ctx.state.get("ports", {}) \
            or chart_service.COMPONENT not in ctx.state.get("done", []):
        return []
    try:
        token = chart_service.demo_token(ctx)
    except PlatformError:
        return []
    return [f"export TDA_API_URL={shlex.quote(chart_service.api_url(ctx))}",
            f"export TDA_API_TOKEN={shlex.quote(token)}"]


__all__ = [
    "COMPONENTS", "Component", "Context", "PlatformError", "PlatformInfo",
    "current", "down", "env_lines", "status", "up",
]
