"""Stand-in for the Flink Kubernetes Operator on the local platform.

The Flink operator deploys container images, which the local node cannot run; this
process does its essential part, as the node agent stands in for kubelet: every
`FlinkDeployment` (the real CRD, installed by `tda-dev up`) whose job is the platform's
PyFlink job runs on real Flink -- one local process per deployment, holding a
MiniCluster (job manager, task managers, REST API) -- and its status says what the
Flink operator would write: ``lifecycleState``, ``jobStatus`` (state, id, savepoints)
and ``error``.

- ``job.state: suspended`` stops the job with a savepoint (``upgradeMode: stateless``:
  cancels it); ``running`` again resumes from that savepoint.
- A spec change rolls the job: savepoint, stop, start the new spec from the savepoint
  (``last-state``: from the latest checkpoint; ``stateless``: from nothing).
- A job process that dies is started again from its latest checkpoint, as a job
  manager with high availability would recover; one that refuses its arguments fails.
- Only the platform's job (``-pym tda_stream.job`` through PythonDriver) is run, with
  the stream runtime's interpreter and a minimal environment; of ``flinkConfiguration``
  only job-level keys apply (process-level ones such as JVM options are the stand-in's).
- Kafka bootstrap addresses of Strimzi clusters (``<cluster>-kafka-bootstrap:<port>``)
  point at the local broker, which plays every cluster (as in the KafkaTopic stand-in).

    python -m tda_dev.flink_standin --kubeconfig KUBECONFIG --bootstrap HOST:PORT --workdir DIR [--ready FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import flink
from .net import LOOPBACK, free_port

GROUP, VERSION, PLURAL = "flink.apache.org", "v1beta1", "flinkdeployments"
PYTHON_DRIVER = "org.apache.flink.client.python.PythonDriver"
JOB_MODULE = "tda_stream.job"
POLL_SECONDS = 1.0
STOP_TIMEOUT = 90.0
#: exit code of tda_stream.job when it refuses its job document: restarting cannot help.
EXIT_REFUSED = 2
#: flinkConfiguration keys a deployment may set here (prefixes); the rest are process-level.
JOB_LEVEL_KEYS = ("execution.checkpointing.", "state.backend.", "pipeline.", "table.", "python.fn-execution.",
                  "restart-strategy.", "taskmanager.numberOfTaskSlots", "metrics.reporter.prom.factory.class",
                  "parallelism.default")
#: The job process's JVM logging (PyFlink's gateway reads log4j-cli.properties): warnings
#: and errors to its console, which is the deployment's job.log; checkpoints as they complete.
JOB_LOG4J = """rootLogger.level = WARN
rootLogger.appenderRef.console.ref = console
appender.console.name = console
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %c{1} - %m%n
logger.checkpoints.name = org.apache.flink.runtime.checkpoint.CheckpointCoordinator
logger.checkpoints.level = INFO
logger.metrics.name = org.apache.flink.metrics.MetricGroup
logger.metrics.level = ERROR
"""
log = logging.getLogger("flink-standin")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_ms() -> int:
    return int(time.time() * 1000)


def spec_digest(spec: dict[str, Any]) -> str:
    """What, when it changes, rolls the job (everything but job.state)."""
    job = {k: v for k, v in (spec.get("job") or {}).items() if k != "state"}
    return hashlib.sha256(json.dumps({**spec, "job": job}, sort_keys=True).encode()).hexdigest()[:16]


def job_arguments(spec: dict[str, Any], bootstrap: str) -> list[str] | None:
    """The job's arguments when it is the platform's PyFlink job (None: not one this runs)."""
    job = spec.get("job") or {}
    args = [str(a) for a in job.get("args") or []]
    if job.get("entryClass") != PYTHON_DRIVER or args[:2] != ["-pym", JOB_MODULE]:
        return None
    rest = args[2:]
    if "--job" in rest and rest.index("--job") + 1 < len(rest):
        at = rest.index("--job") + 1
        rest[at] = _local_bootstrap(rest[at], bootstrap)
    return rest


def _local_bootstrap(document: str, bootstrap: str) -> str:
    try:
        doc = json.loads(document)
    except ValueError:
        return document  # the job refuses it and says why
    hosts = [h.rsplit(":", 1)[0] for h in str(doc.get("bootstrapServers", "")).split(",")]
    if hosts and all(h.endswith("-kafka-bootstrap") or ".svc" in h for h in hosts):
        doc["bootstrapServers"] = bootstrap
    return json.dumps(doc, separators=(",", ":"))


def flink_configuration(spec: dict[str, Any]) -> tuple[dict[str, str], int]:
    """The deployment's job-level flinkConfiguration and how many keys were left out."""
    given = {str(k): str(v) for k, v in (spec.get("flinkConfiguration") or {}).items()}
    kept = {k: v for k, v in given.items() if k.startswith(JOB_LEVEL_KEYS)}
    return kept, len(given) - len(kept)


def latest_state(directory: Path) -> Path | None:
    """The newest completed checkpoint or savepoint under ``directory`` (its _metadata marks it done)."""
    found = [m.parent for m in directory.glob("**/_metadata")] if directory.is_dir() else []
    return max(found, key=lambda p: (p / "_metadata").stat().st_mtime, default=None)


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    rest_port: int
    digest: str
    started: str
    job_id: str | None = None
    job_state: str | None = None
    last_written: dict[str, Any] = field(default_factory=dict)


class FlinkStandIn:
    def __init__(self, custom: Any, bootstrap: str, workdir: Path) -> None:
        self.custom = custom
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.home = flink.assemble_home(workdir / "home")
        self._kill_orphans()
        self.java_options = flink.java_options()
        self.runs: dict[tuple[str, str], Run] = {}
        #: deployments whose job process died: (restarts so far, not again before this time)
        self.backoff: dict[tuple[str, str], tuple[int, float]] = {}

    # ------------------------------------------------------------------ loop

    def run(self, ready_file: Path | None) -> None:
        while True:
            try:
                listed = self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL, _request_timeout=30)
            except Exception as error:  # noqa: BLE001 - the API server may be restarting
                log.warning("listing FlinkDeployments failed: %s", type(error).__name__)
                time.sleep(2)
                continue
            present = set()
            for obj in listed["items"]:
                key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
                present.add(key)
                try:
                    self.reconcile(key, obj)
                except Exception:  # noqa: BLE001 - one deployment must not stop the others
                    log.exception("FlinkDeployment %s/%s", *key)
            for key in (set(self.runs) | self._on_disk()) - present:
                self._forget(key)
            if ready_file is not None and not ready_file.exists():
                ready_file.write_text("ready\n")
            time.sleep(POLL_SECONDS)

    def _on_disk(self) -> set[tuple[str, str]]:
        return {(d.parent.name, d.name) for d in (self.workdir / "deployments").glob("*/*") if d.is_dir()}

    def _forget(self, key: tuple[str, str]) -> None:
        """A deleted FlinkDeployment: its job stops, its state goes (a new one of the same
        name must not restore it); its log stays beside the platform's logs."""
        log.info("FlinkDeployment %s/%s is gone: stopping its job, removing its state", *key)
        run = self.runs.pop(key, None)
        if run is not None:
            self._kill(run)
        self.backoff.pop(key, None)
        with contextlib.suppress(OSError):
            shutil.copyfile(self._dir(key) / "job.log",
                            self.workdir.parent / "logs" / f"flink-job-{key[0]}-{key[1]}.log")
        shutil.rmtree(self._dir(key), ignore_errors=True)
        with contextlib.suppress(OSError):  # the namespace's directory, once empty
            self._dir(key).parent.rmdir()

    def reconcile(self, key: tuple[str, str], obj: dict[str, Any]) -> None:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        job = spec.get("job") or {}
        mode = job.get("upgradeMode", "stateless")
        run = self.runs.get(key)
        if run is not None and run.process.poll() is not None:
            self.runs.pop(key)
            if run.process.returncode == EXIT_REFUSED:
                self._write(key, obj, "FAILED", "FAILED", run.job_id,
                            error={"type": "org.apache.flink.client.program.ProgramInvocationException",
                                   "message": "the job refused its arguments"})
                return
            restarts = self.backoff.get(key, (0, 0.0))[0] + 1
            self.backoff[key] = (restarts, time.monotonic() + min(60.0, 2.0 ** restarts))
            log.warning("job of %s/%s exited (%s); recovering from its latest checkpoint", *key,
                        run.process.returncode)
            run = None
        if job.get("state") == "suspended":
            if run is not None:
                self._stop(key, obj, run, savepoint=mode != "stateless", target="SUSPENDED")
            elif status.get("lifecycleState") not in ("SUSPENDED", "FAILED"):
                self._write(key, obj, "SUSPENDED", "FINISHED", (status.get("jobStatus") or {}).get("jobId"))
            return
        if status.get("lifecycleState") == "FAILED" and run is None and \
                status.get("observedGeneration") == obj["metadata"].get("generation"):
            return  # a refused job stays failed until its spec changes
        digest = spec_digest(spec)
        if run is not None and run.digest != digest:
            self._write(key, obj, "UPGRADING", run.job_state or "RUNNING", run.job_id)
            self._stop(key, obj, run, savepoint=mode == "savepoint", target=None)
            run = None
        if run is None and time.monotonic() < self.backoff.get(key, (0, 0.0))[1]:
            return
        if run is None:
            arguments = job_arguments(spec, self.bootstrap)
            if arguments is None:
                self._write(key, obj, "FAILED", "FAILED", None,
                            error={"type": "org.apache.flink.kubernetes.operator.exception.ValidationException",
                                   "message": "the local platform runs only the PyFlink job tda_stream.job"})
                return
            restore = None if mode == "stateless" else latest_state(self._dir(key) / "state")
            run = self._start(key, spec, arguments, restore, digest)
            self.runs[key] = run
            self._write(key, obj, "DEPLOYED", "RECONCILING", None)
            return
        self._observe(run)
        if run.job_state == "RUNNING":
            self.backoff.pop(key, None)
        lifecycle = "STABLE" if run.job_state == "RUNNING" else "DEPLOYED"
        self._write(key, obj, lifecycle, run.job_state or "RECONCILING", run.job_id)

    # ------------------------------------------------------------------ jobs

    def _kill_orphans(self) -> None:
        """Job processes a previous stand-in left running (it was killed): theirs is a stale spec."""
        for pid_file in (self.workdir / "deployments").glob("*/*/job.pid"):
            with contextlib.suppress(ValueError, OSError):
                pid = int(pid_file.read_text())
                if JOB_MODULE in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    os.killpg(pid, signal.SIGKILL)
            pid_file.unlink(missing_ok=True)

    def _dir(self, key: tuple[str, str]) -> Path:
        return self.workdir / "deployments" / key[0] / key[1]

    def _start(self, key: tuple[str, str], spec: dict[str, Any], arguments: list[str],
               restore: Path | None, digest: str) -> Run:
        directory = self._dir(key)
        conf_dir = directory / "conf"
        conf_dir.mkdir(parents=True, exist_ok=True)
        rest_port = free_port()
        configuration, ignored = flink_configuration(spec)
        if ignored:
            log.info("%s/%s: %d flinkConfiguration keys are process-level and do not apply here", *key, ignored)
        job = spec.get("job") or {}
        parallelism = int(job.get("parallelism") or 1)
        slots = max(1, int(configuration.get("taskmanager.numberOfTaskSlots", "1")))
        python = str(flink.stream_python())
        configuration.update({
            "env.java.opts.all": self.java_options,
            "rest.address": LOOPBACK, "rest.bind-address": LOOPBACK, "rest.port": str(rest_port),
            "jobmanager.rpc.address": LOOPBACK, "taskmanager.host": LOOPBACK,
            "parallelism.default": str(parallelism),
            "local.number-taskmanager": str(-(-parallelism // slots)),
            "execution.checkpointing.dir": (directory / "state" / "checkpoints").as_uri(),
            "execution.checkpointing.savepoint-dir": (directory / "state" / "savepoints").as_uri(),
            "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
            "python.executable": python, "python.client.executable": python,
        })
        if "metrics.reporter.prom.factory.class" in configuration:
            configuration["metrics.reporter.prom.port"] = str(free_port())
        if restore is not None:
            configuration["execution.savepoint.path"] = restore.as_uri()
        for name in ("log4j-cli.properties", "log4j-console.properties", "log4j.properties"):
            (conf_dir / name).write_text(JOB_LOG4J)
        (conf_dir / "config.yaml").write_text(yaml.safe_dump(configuration, sort_keys=True))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory), "LANG": "C.UTF-8",
               "FLINK_HOME": str(self.home), "FLINK_CONF_DIR": str(conf_dir), "PYTHONUNBUFFERED": "1"}
        if os.environ.get("JAVA_HOME"):
            env["JAVA_HOME"] = os.environ["JAVA_HOME"]
        log_file = (directory / "job.log").open("ab")
        process = subprocess.Popen([python, "-m", JOB_MODULE, *arguments], cwd=directory, env=env,
                                   stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        log_file.close()
        (directory / "job.pid").write_text(str(process.pid))
        log.info("%s/%s: job started (pid %d, REST %d%s)", *key, process.pid, rest_port,
                 ", restoring state" if restore else "")
        return Run(process=process, rest_port=rest_port, digest=digest, started=now_iso())

    def _rest(self, run: Run, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://{LOOPBACK}:{run.rest_port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def _observe(self, run: Run) -> None:
        with contextlib.suppress(OSError, ValueError):
            jobs = self._rest(run, "GET", "/jobs/overview").get("jobs") or []
            if jobs:
                latest = max(jobs, key=lambda j: j.get("start-time", 0))
                run.job_id, run.job_state = latest["jid"], latest["state"]

    def _stop(self, key: tuple[str, str], obj: dict[str, Any], run: Run, savepoint: bool,
              target: str | None) -> None:
        """Stop the job (with a savepoint, or cancel it), wait for its process, record the result."""
        self._observe(run)
        location = None
        if run.job_id and run.job_state == "RUNNING":
            try:
                if savepoint:
                    location = self._savepoint_and_stop(run, self._dir(key) / "state" / "savepoints")
                else:
                    self._rest(run, "PATCH", f"/jobs/{run.job_id}?mode=cancel")
            except (OSError, ValueError, TimeoutError) as error:
                log.warning("%s/%s: stopping the job failed (%s); killing it", *key, type(error).__name__)
        with contextlib.suppress(subprocess.TimeoutExpired):
            run.process.wait(timeout=STOP_TIMEOUT)
        self._kill(run)
        self.runs.pop(key, None)
        if target is not None:
            self._write(key, obj, target, "FINISHED" if location else "CANCELED", run.job_id, savepoint=location)
        elif location:
            self._write(key, obj, "UPGRADING", "FINISHED", run.job_id, savepoint=location)

    def _savepoint_and_stop(self, run: Run, directory: Path) -> str | None:
        trigger = self._rest(run, "POST", f"/jobs/{run.job_id}/stop",
                             {"targetDirectory": directory.as_uri(), "drain": False})
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            result = self._rest(run, "GET", f"/jobs/{run.job_id}/savepoints/{trigger['request-id']}")
            if (result.get("status") or {}).get("id") == "COMPLETED":
                operation = result.get("operation") or {}
                if "location" in operation:
                    return str(operation["location"])
                raise ValueError("savepoint failed")
            time.sleep(0.5)
        raise TimeoutError("savepoint did not complete")

    @staticmethod
    def _kill(run: Run) -> None:
        if run.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait()

    # ------------------------------------------------------------------ status

    def _write(self, key: tuple[str, str], obj: dict[str, Any], lifecycle: str, job_state: str,
               job_id: str | None, error: dict[str, str] | None = None, savepoint: str | None = None) -> None:
        current = obj.get("status") or {}
        job_status: dict[str, Any] = {"state": job_state, "jobName": obj["metadata"]["name"],
                                      "updateTime": str(now_ms())}
        if job_id:
            job_status["jobId"] = job_id
        if savepoint:
            job_status["savepointInfo"] = {"lastSavepoint": {
                "location": savepoint, "timeStamp": now_ms(), "triggerType": "UPGRADE", "formatType": "CANONICAL"}}
        status = {"lifecycleState": lifecycle, "jobStatus": job_status,
                  "jobManagerDeploymentStatus": "READY" if key in self.runs else "MISSING",
                  "error": json.dumps(error) if error else None,
                  "observedGeneration": obj["metadata"].get("generation"),
                  "reconciliationStatus": {"state": "DEPLOYED", "reconciliationTimestamp": now_ms()}}
        seen = (lifecycle, job_state, job_id, status["error"], savepoint, status["observedGeneration"])
        old = current.get("jobStatus") or {}
        if not savepoint and seen == (current.get("lifecycleState"), old.get("state"), old.get("jobId"),
                                      current.get("error"), None, current.get("observedGeneration")):
            return
        self.custom.patch_namespaced_custom_object_status(GROUP, VERSION, key[0], PLURAL, key[1],
                                                          {"status": status}, _request_timeout=30)
        obj["status"] = {**current, **status, "jobStatus": {**old, **job_status}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tda_dev.flink_standin", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--ready", type=Path, default=None, help="file written once the first listing is done")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s flink-standin %(levelname)s %(message)s")
    from kubernetes import client, config

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    custom = client.CustomObjectsApi(config.new_client_from_config(args.kubeconfig))
    standin = FlinkStandIn(custom, args.bootstrap, args.workdir)
    try:
        standin.run(args.ready)
    finally:
        for run in standin.runs.values():
            standin._kill(run)


if __name__ == "__main__":
    main()
