"""One pod on this node, from pickup to a terminal phase or deletion, as kubelet runs it.

A worker thread per pod owns its containers (init containers, sidecars,
restarts with back-off, probes, deadlines) and is the only writer of the
pod's status, which it publishes whenever it changes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..net import LOOPBACK
from .api import SMP, ApiError, now, parse_time, pod_path
from .containers import Container
from .env import MountError, container_env, expand
from .probes import run_probe
from .volumes import container_mounts, materialize, refresh_tokens

if TYPE_CHECKING:
    from .node import Agent

log = logging.getLogger("tda-node-agent")

MAX_GRACE_SECONDS = 30  # a pod may ask for more; a dev platform should not wait that long
SHUTDOWN_GRACE_SECONDS = 5
# Crash-loop back-off: kubelet's 10 s doubling to 5 min, but a quick first retry (as with
# kubelet's reduced-backoff feature) so a one-off failure does not stall a dev loop.
BACKOFF_FIRST, BACKOFF_START, BACKOFF_MAX = 1.0, 10.0, 300.0
BACKOFF_RESET_AFTER = 600.0
TERMINAL = ("Succeeded", "Failed")


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
            refresh_tokens(self)
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
                refresh_tokens(self)
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
            env = container_env(self.agent, self.pod, c)
            # Without an image there is no entrypoint: `args` alone run as the command (right for
            # images with none, such as python); otherwise `command` must name what the image runs.
            argv = [expand(a, env) for a in (c.get("command") or []) + (c.get("args") or [])]
            if not argv:
                raise MountError("the container has no command: the node agent runs `command`+`args` only")
            mounts = container_mounts(self.volumes, c, env)
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
                      read_only_root, background=int(self.spec.get("priority") or 0) < 0)
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
                    self.volumes[v["name"]] = materialize(self, v)
                return True
            except (MountError, ApiError, ValueError, OSError) as e:
                msg = f"MountVolume.SetUp failed: {e}"
                for st in self.statuses.values():
                    st["state"] = {"waiting": {"reason": "ContainerCreating", "message": msg}}
                self.publish()
                self.wake.wait(3)
                self.wake.clear()
        return False
