"""The node itself: registration, status and Lease heartbeats, and the pods bound to it.

One Agent per state directory: it keeps Node and Lease fresh so the control
plane sees a Ready node, watches the pods bound to it and hands each to a
PodWorker.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import platform
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from ..net import LOOPBACK
from .api import MERGE, SMP, ApiError, Kube, now, now_micro, pod_path
from .logs import LogServer
from .pods import SHUTDOWN_GRACE_SECONDS, TERMINAL, PodWorker
from .provisioner import storage_loop
from .sandbox import kill_pod_processes

log = logging.getLogger("tda-node-agent")

LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
HEARTBEAT_SECONDS = 10.0


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
                   threading.Thread(target=storage_loop, args=(self.api, self.state_dir, self.stop),
                                    name="storage", daemon=True)]
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
