"""The operator's own cost and latency: N TDAJobs at a steady rate next to 2,000 unrelated Jobs.

    python bench/bench_operator.py [--n 1000] [--rate 20] [--unrelated 2000] [--timeout 5400]

On the local platform (``tda_dev.platform``: reused when it runs, started otherwise; set
``TDA_STATE_DIR`` to use a private one), the platform's operator process is restarted
first (SIGTERM, then ``platform.up()`` brings it back and waits for its liveness probe), so
its CPU time and peak RSS belong to this run. Then, in one fresh namespace:

1. ``--unrelated`` plain batch/v1 Jobs (``suspend: true``: they never run a pod), created as
   fast as a small thread pool goes; the bench waits until the Job controller has marked
   them Suspended. The operator should not notice them: its watches select its children by
   label on the server. The bench checks, in the audit log, which selectors the freshly
   started operator actually sent, and reports the operator's requests and CPU time of this
   phase separately.
2. ``--n`` TDAJobs (5 points in R^2, maxDimension 1), created at ``--rate`` per second: a
   scheduler thread hands each creation at its due time to a pool of ``--threads`` client
   threads (the achieved rate and the lag behind schedule are reported, so one can see
   whether the rate held; ``rate_per_s`` is the achieved one).
3. Two watches, opened before the first creation, one on the namespace's TDAJobs and one
   on its Jobs with ``labelSelector=tda.io/tdajob``, stamp every event with the bench's
   monotonic clock when it arrives (``creationTimestamp`` has one-second resolution):

   - ``create_to_job``: the TDAJob's ADDED event -> its Job's ADDED event (the operator
     notices the TDAJob, builds and applies the Job);
   - ``complete_to_status``: the first Job event with condition Complete=True -> the first
     TDAJob event with ``status.phase: Succeeded`` (the operator notices the Job's and the
     records' final state and writes the status).

   p50 and p99 over every TDAJob (the stderr report also shows them per creation decile,
   the slowest TDAJobs, the status transitions the watch saw, and the throughput of each
   stage). Each latency is the operator's reaction time *including its work-queue wait*:
   while the operator keeps up with ``--rate`` that is its per-event cost; when it does not,
   its queue grows and both latencies become queueing delays that grow with the creation
   order (visible in the deciles), i.e. a measure of the operator's throughput shortfall.
4. The bench waits until every TDAJob is Succeeded (or Failed, or ``--timeout``), printing
   progress to stderr every 30 s, then deletes the namespace.

What is measured, exactly:

- ``writes_per_tdajob``/``requests_per_tdajob``: the operator's own API requests (user
  ``system:serviceaccount:tda-system:tda-operator``; writes are the verbs create, update,
  patch, delete, deletecollection) in the API server's audit log, one per audit ID, whose
  request was received between the namespace's creation and the moment the last TDAJob was
  seen Succeeded, divided by N. So the unrelated Jobs' phase is charged to the TDAJobs, and
  so are the operator's watch re-connections (kopf ends each after 270 s) and its one-time
  per-namespace worker RBAC; the restart's start-up requests and the namespace's deletion
  are not (the deletion's requests are shown on stderr). A table on stderr lists the
  requests by verb and resource/subresource.
- ``apiserver_writes_per_tdajob``: the delta of ``apiserver_request_total`` over write verbs
  (POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION) of *every* client, from just before the
  first TDAJob creation to the last Succeeded, divided by N: the bench's own creation of each
  TDAJob, the operator, the Job controller, the scheduler's bindings, the node agent's pod
  status updates, the worker pods' records, the garbage collector, leases and Events.
- ``operator_cpu_s``: utime+stime of the operator process (/proc/<pid>/stat), same window as
  the operator's requests (stderr: the part spent during the unrelated Jobs' phase, next to
  what the idle operator spends in 10 s before it). ``operator_rss_mb``: its VmHWM
  (/proc/<pid>/status) at the end: the peak resident set of the whole (freshly started)
  process life, i.e. start-up plus this run, not of the run alone.
- ``wall_s``: from the first TDAJob creation to the last Succeeded.

What is not measured: the pods. The TDAJobs' worker pods have the PriorityClass
``tda-bench-background`` (value -10, created by the bench), and the local node agent runs
pods of negative priority under SCHED_IDLE: they use only the CPU that the control plane,
the operator and the bench leave. On a cluster the control plane has machines of its own;
on this 2-core machine a pod per TDAJob at 20/s would otherwise take most of the CPU and
slow every API request, and both latencies would measure that contention rather than the
operator. For the same reason the node agent itself (starting and watching pods: on a cluster,
the nodes' kubelets) runs at niceness 10 during the run, after the operator's restart (so the
operator, a pod of that agent, keeps niceness 0). The node runs roughly 1.7 pods per second, so ``wall_s`` is bounded by the node's
pod throughput (N pods at ~1.7/s) -- or by the operator's, should that be lower (the stderr
throughput line shows each stage's pace). The two latencies are not bounded by the pods:
each spans only the operator's step (the Job's pods, their scheduling and their run lie
between the two and are excluded). The stderr report lists the CPU seconds of each
platform process, the bench and the whole machine, and the API server's own time for each
kind of operator request, from the audit log. Both latencies include the watch delivery of
two events to the bench. With ``TDA_KUBECONFIG`` (an existing cluster) there is no audit
log to read and no operator process to inspect: those figures are null.

Last line of stdout: {"tdajobs", "unrelated_jobs", "rate_per_s", "create_to_job_p50_ms",
"create_to_job_p99_ms", "complete_to_status_p50_ms", "complete_to_status_p99_ms",
"writes_per_tdajob", "requests_per_tdajob", "apiserver_writes_per_tdajob", "operator_cpu_s",
"operator_rss_mb", "wall_s"}.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime as dt
import json
import math
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import emit_json, format_table  # noqa: E402

OPERATOR_USER = "system:serviceaccount:tda-system:tda-operator"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
METRIC_WRITE_VERBS = ("POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION", "CREATE", "UPDATE")
POINTS = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]]
UNRELATED_LABEL = "bench.tda.io/unrelated"
PROGRESS_SECONDS = 30.0
IDLE_SECONDS = 10.0
WATCH_SECONDS = 240  # server-side end of each watch request; the bench re-opens it from the last version
BACKGROUND_CLASS = "tda-bench-background"
#: The local node agent (the kubelet's stand-in) yields the CPU to the control plane and the operator.
NODE_NICENESS = 10


def _say(message: str) -> None:
    print(f"bench-operator: {message}", file=sys.stderr, flush=True)


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# ----------------------------------------------------------------------------- API access


class Api:
    """Raw requests through the kubernetes client's connection pool (no model deserialization)."""

    def __init__(self, kubeconfig: Path, pool: int) -> None:
        import kubernetes

        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        configuration.connection_pool_maxsize = pool  # before the ApiClient builds its pool
        self.client = kubernetes.client.ApiClient(configuration)

    def _send(self, method: str, path: str, query: list[tuple[str, str]] | None, body: Any,
              timeout: Any, accept: str = "application/json") -> Any:
        from kubernetes.client.exceptions import ApiException

        request = self.client.param_serialize(
            method, path, query_params=query or [],
            header_params={"Content-Type": "application/json", "Accept": accept},
            body=body, auth_settings=["BearerToken"],
        )
        response = self.client.call_api(*request, _request_timeout=timeout)
        if not 200 <= response.status < 300:
            response.read()
            raise ApiException(http_resp=response)
        return response

    def call(self, method: str, path: str, query: list[tuple[str, str]] | None = None, body: Any = None,
             timeout: Any = (10, 60), accept: str = "application/json") -> bytes:
        response = self._send(method, path, query, body, timeout, accept)
        data: bytes = response.read()
        return data

    def json(self, method: str, path: str, query: list[tuple[str, str]] | None = None, body: Any = None) -> Any:
        data = self.call(method, path, query, body)
        return json.loads(data) if data else None

    def stream(self, path: str, query: list[tuple[str, str]], timeout: Any) -> Any:
        """A watch: returns the open urllib3 response once the server has answered."""
        return self._send("GET", path, query, None, timeout).response


def _tdajobs_path(namespace: str) -> str:
    import tda_contract as contract

    return f"/apis/{contract.API_VERSION}/namespaces/{namespace}/{contract.TDAJOB_PLURAL}"


def _jobs_path(namespace: str) -> str:
    return f"/apis/batch/v1/namespaces/{namespace}/jobs"


def _retrying(what: str, action: Any, attempts: int = 5) -> Any:
    """One API call, retried on throttling, server errors and broken connections."""
    from kubernetes.client.exceptions import ApiException

    for attempt in range(1, attempts + 1):
        try:
            return action()
        except ApiException as error:
            if error.status not in (0, 429, 500, 502, 503, 504) or attempt == attempts:
                raise
            _say(f"{what}: HTTP {error.status}, retrying ({attempt})")
        except OSError as error:  # urllib3's errors are OSErrors
            if attempt == attempts:
                raise
            _say(f"{what}: {type(error).__name__}, retrying ({attempt})")
        time.sleep(0.5 * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------- watches


@dataclass
class Seen:
    """What the watch saw of one object: monotonic arrival times."""

    first: float | None = None
    complete: float | None = None  # Job: Complete=True
    phases: dict[str, float] = field(default_factory=dict)  # TDAJob: first event with each phase
    trail: list[str] = field(default_factory=list)  # TDAJob: "phase/reason" as it changed
    statuses: list[str] = field(default_factory=list)  # TDAJob: "phase/reason: message" as it changed
    status: dict[str, Any] = field(default_factory=dict)  # TDAJob: the last status seen
    events: int = 0
    relisted: bool = False  # a stamp came from a re-list after a broken watch: not exact


class Watcher(threading.Thread):
    """One watch on one collection, stamping each event on arrival; re-opened as it ends."""

    def __init__(self, api: Api, path: str, selector: str | None, kind: str, book: dict[str, Seen],
                 lock: threading.Lock) -> None:
        super().__init__(name=f"watch-{kind}", daemon=True)
        self.api, self.path, self.selector, self.kind = api, path, selector, kind
        self.book, self.lock = book, lock
        self.connected = threading.Event()
        self.stopping = threading.Event()
        self.reconnects = 0
        self.relists = 0
        self.resource_version = ""
        #: TDAJob status changes by the set of status fields that changed (what each status write was for).
        self.changes: collections.Counter[str] = collections.Counter()

    def _query(self) -> list[tuple[str, str]]:
        return [("labelSelector", self.selector)] if self.selector else []

    def relist(self, stamp_all: bool) -> None:
        listing = self.api.json("GET", self.path, self._query())
        self.resource_version = listing["metadata"]["resourceVersion"]
        if stamp_all:
            now = time.monotonic()
            for obj in listing.get("items") or []:
                self.observe("RELIST", obj, now)

    def run(self) -> None:
        from kubernetes.watch.watch import iter_resp_lines

        while not self.stopping.is_set():
            try:
                query = self._query() + [("watch", "true"), ("allowWatchBookmarks", "true"),
                                         ("resourceVersion", self.resource_version),
                                         ("timeoutSeconds", str(WATCH_SECONDS))]
                response = self.api.stream(self.path, query, timeout=(10, WATCH_SECONDS + 60))
                self.connected.set()
                try:
                    for line in iter_resp_lines(response):
                        now = time.monotonic()
                        if not line:
                            continue
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            _say(f"watch {self.kind}: {obj.get('code')} {obj.get('message')}; re-listing")
                            self.relists += 1
                            self.relist(stamp_all=True)
                            break
                        version = (obj.get("metadata") or {}).get("resourceVersion")
                        if version:
                            self.resource_version = version
                        if event.get("type") != "BOOKMARK":
                            self.observe(str(event.get("type")), obj, now)
                        if self.stopping.is_set():
                            break
                finally:
                    response.close()  # not back into the pool: it may hold the rest of a watch
                self.reconnects += 1
            except Exception as error:  # noqa: BLE001 - a broken watch is re-opened
                if self.stopping.is_set():
                    return
                _say(f"watch {self.kind}: {type(error).__name__} {error}; re-opening")
                time.sleep(1.0)
                with contextlib.suppress(Exception):
                    self.relists += 1
                    self.relist(stamp_all=True)

    def observe(self, kind: str, obj: dict[str, Any], now: float) -> None:
        if kind == "DELETED":
            return
        meta = obj.get("metadata") or {}
        if self.kind == "jobs":
            import tda_contract as contract

            name = (meta.get("labels") or {}).get(contract.LABEL_TDAJOB) or meta.get("name")
        else:
            name = meta.get("name")
        with self.lock:
            seen = self.book.setdefault(str(name), Seen())
            seen.events += 1
            relisted = kind == "RELIST"
            if seen.first is None:
                seen.first, seen.relisted = now, seen.relisted or relisted
            status = obj.get("status") or {}
            if self.kind == "jobs":
                complete = any(c.get("type") == "Complete" and c.get("status") == "True"
                               for c in status.get("conditions") or [])
                if complete and seen.complete is None:
                    seen.complete, seen.relisted = now, seen.relisted or relisted
            else:
                phase = status.get("phase")
                if phase and phase not in seen.phases:
                    seen.phases[phase] = now
                    seen.relisted = seen.relisted or relisted
                step = f"{phase or '-'}/{status.get('reason') or '-'}"
                if not seen.trail or seen.trail[-1] != step:
                    seen.trail.append(step)
                if kind == "MODIFIED":
                    changed = sorted(k for k in set(status) | set(seen.status) if status.get(k) != seen.status.get(k))
                    self.changes[", ".join(changed) or "(status unchanged)"] += 1
                seen.status = status
                said = f"{step}: {status.get('message') or ''}"
                if not seen.statuses or seen.statuses[-1] != said:
                    seen.statuses.append(said)


# ----------------------------------------------------------------------------- the operator process


@dataclass
class OperatorProcess:
    pid: int
    start: int  # start time in clock ticks: tells the process from a later one with its pid
    metrics_port: int | None

    def alive(self) -> bool:
        stat = _proc_stat(self.pid)
        return stat is not None and int(stat[19]) == self.start and stat[0] != "Z"

    def cpu_seconds(self) -> float | None:
        stat = _proc_stat(self.pid)
        if stat is None or int(stat[19]) != self.start:
            return None
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")

    def memory_mb(self, field_name: str) -> float | None:
        if not self.alive():
            return None
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
        return None


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _operator_record(state_dir: Path) -> OperatorProcess | None:
    """The process of the chart's operator pod on the local node (the node agent's record)."""
    from tda_dev import chart_service

    try:
        state = json.loads((state_dir / "state.json").read_text())
        port = state.get("ports", {}).get(chart_service.OPERATOR_PORT)
        pids = chart_service.operator_pids(state_dir, state_dir / "kubeconfig")
        if len(pids) != 1:
            return None
        stat = _proc_stat(pids[0])
        if stat is None:
            return None
        process = OperatorProcess(pids[0], int(stat[19]), int(port) if port else None)
    except (OSError, KeyError, ValueError, TypeError):
        return None
    return process if process.alive() else None


def _restart_operator(platform: Any, state_dir: Path, old: OperatorProcess) -> OperatorProcess:
    """SIGKILL the operator pod's process; the node agent restarts the container (as kubelet would)."""
    _say(f"restarting the platform's operator (pid {old.pid}) for a clean CPU and peak-RSS account ...")
    os.killpg(old.pid, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        new = _operator_record(state_dir)
        if new is not None and new.pid != old.pid and _healthy(new):
            _say(f"operator restarted: pid {new.pid}")
            return new
        time.sleep(0.5)
    raise SystemExit("bench-operator: the node agent did not restart the operator pod within 120 s")


def _healthy(process: OperatorProcess) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{process.metrics_port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _component_processes(state_dir: Path) -> dict[str, tuple[int, int]]:
    """The platform's live processes from its state file: name -> (pid, start ticks)."""
    try:
        records = json.loads((state_dir / "state.json").read_text()).get("processes") or {}
    except (OSError, ValueError):
        return {}
    live = {}
    for name, record in records.items():
        stat = _proc_stat(int(record["pid"]))
        if stat is not None and stat[0] != "Z" and int(stat[19]) == int(record["start"]):
            live[name] = (int(record["pid"]), int(record["start"]))
    return live


def _renice_node_agent(state_dir: Path, niceness: int) -> bool:
    """Every thread of the node agent at ``niceness`` (threads it starts later inherit it)."""
    record = _component_processes(state_dir).get("node-agent")
    if record is None:
        return False
    for task in Path(f"/proc/{record[0]}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
    return True


def _cpu_by_component(processes: dict[str, tuple[int, int]]) -> dict[str, float]:
    """CPU seconds of each platform process, with its reaped children (the node agent's: the pods)."""
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for name, (pid, start) in processes.items():
        stat = _proc_stat(pid)
        if stat is not None and int(stat[19]) == start:
            cpu[name] = sum(int(stat[i]) for i in (11, 12, 13, 14)) / ticks
    with open("/proc/stat") as machine:
        fields = [int(v) for v in machine.readline().split()[1:]]
    own = os.times()
    cpu["(this bench)"] = own.user + own.system
    cpu["(machine busy)"] = (sum(fields[:8]) - fields[3] - fields[4]) / ticks
    cpu["(machine total)"] = sum(fields[:8]) / ticks
    return cpu


def _operator_metrics(process: OperatorProcess | None) -> dict[str, float]:
    """The operator's own reconcile counters (its /metrics), for the stderr report."""
    if process is None or process.metrics_port is None:
        return {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{process.metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    wanted = ("tda_operator_reconciliations_total", "tda_operator_reconcile_duration_seconds_sum",
              "tda_operator_reconcile_duration_seconds_count")
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith(wanted)}


# ----------------------------------------------------------------------------- audit log and metrics


def _timestamp(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _audit(log_dir: Path, since: float, until: float) -> list[dict[str, Any]]:
    """The operator's requests received in [since, until): one entry per audit ID (its last stage)."""
    marker = f'"username":"{OPERATOR_USER}"'
    entries: dict[str, dict[str, Any]] = {}
    files = sorted(log_dir.glob("audit*.log"), key=lambda p: p.stat().st_mtime)  # a rotated backup first
    for path in files:
        with open(path, errors="replace") as log:
            for line in log:
                if marker not in line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line being written
                if (entry.get("user") or {}).get("username") != OPERATOR_USER:
                    continue
                received = _timestamp(entry.get("requestReceivedTimestamp") or entry["stageTimestamp"])
                if since <= received < until:
                    entries[entry["auditID"]] = entry
    return list(entries.values())


def _audit_rows(entries: list[dict[str, Any]], n: int, writes: bool) -> list[list[Any]]:
    """verb, resource, subresource, code, count, count/n, and the server's p50/p99 time (ms) of each."""
    counts: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
    durations: dict[tuple[str, str, str, str], list[float]] = collections.defaultdict(list)
    for entry in entries:
        verb = str(entry.get("verb"))
        if (verb in WRITE_VERBS) != writes:
            continue
        ref = entry.get("objectRef") or {}
        resource = ref.get("resource") or entry.get("requestURI", "").split("?")[0]
        if ref.get("apiGroup"):
            resource = f"{resource}.{ref['apiGroup']}"
        code = str((entry.get("responseStatus") or {}).get("code", "-"))
        key = (verb, resource, ref.get("subresource") or "", code)
        counts[key] += 1
        if verb != "watch" and entry.get("stage") == "ResponseComplete":
            durations[key].append((_timestamp(entry["stageTimestamp"])
                                   - _timestamp(entry["requestReceivedTimestamp"])) * 1000)
    return [[*key[:2], key[2] or "-", key[3], count, round(count / n, 3),
             _percentile(durations[key], 50), _percentile(durations[key], 99)]
            for key, count in counts.most_common()]


def _watch_selectors(entries: list[dict[str, Any]]) -> dict[str, str]:
    """resource -> the labelSelector of the operator's list/watch requests ('' when none)."""
    found: dict[str, str] = {}
    for entry in entries:
        if entry.get("verb") not in ("list", "watch"):
            continue
        ref = entry.get("objectRef") or {}
        if ref.get("namespace") or ref.get("name"):
            continue  # a namespaced read (e.g. Events of one Job), not a watch of its own
        uri = entry.get("requestURI", "")
        match = re.search(r"[?&]labelSelector=([^&]*)", uri)
        selector = urllib.parse.unquote_plus(match.group(1)) if match else ""
        found.setdefault(str(ref.get("resource")), selector)
    return found


_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _apiserver_requests(api: Api) -> dict[tuple[str, str, str, str], float] | None:
    """apiserver_request_total summed over codes and scopes: (verb, group, resource, subresource) -> count."""
    try:
        text = api.call("GET", "/metrics", accept="text/plain").decode()
    except Exception as error:  # noqa: BLE001 - no metrics on this cluster (e.g. forbidden): no figure
        _say(f"no API server metrics ({type(error).__name__}: {error})")
        return None
    totals: dict[tuple[str, str, str, str], float] = collections.defaultdict(float)
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition("} ")
        labels = dict(_LABEL.findall(labels_text))
        key = (labels.get("verb", ""), labels.get("group", ""), labels.get("resource", ""),
               labels.get("subresource", ""))
        totals[key] += float(value)
    return dict(totals)


# ----------------------------------------------------------------------------- objects


def _unrelated_job(namespace: str, index: int) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"unrelated-{index:05d}", "namespace": namespace, "labels": {UNRELATED_LABEL: "true"}},
        "spec": {
            "suspend": True,
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
            }},
        },
    }


def _tdajob(namespace: str, name: str) -> dict[str, Any]:
    import tda_contract as contract

    return {
        "apiVersion": contract.API_VERSION,
        "kind": contract.TDAJOB_KIND,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"input": {"inline": {"points": POINTS}}, "computation": {"maxDimension": 1},
                 "priorityClassName": BACKGROUND_CLASS},
    }


def _background_class() -> dict[str, Any]:
    """The worker pods' PriorityClass: negative, so the local node runs them on idle CPU only."""
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": BACKGROUND_CLASS},
            "value": -10, "preemptionPolicy": "Never", "globalDefault": False,
            "description": "bench-operator's worker pods: they must not compete with the control plane for CPU"}


# ----------------------------------------------------------------------------- the run


@dataclass
class Creation:
    due: float = 0.0
    sent: float = 0.0
    done: float = 0.0
    error: str | None = None


class Bench:
    def __init__(self, api: Api, args: argparse.Namespace, operator: OperatorProcess | None,
                 log_dir: Path | None) -> None:
        self.api, self.args, self.operator, self.log_dir = api, args, operator, log_dir
        self.namespace = f"bench-op-{uuid.uuid4().hex[:6]}"
        self.names = [f"t{i:05d}" for i in range(args.n)]
        self.lock = threading.Lock()
        self.tdajobs: dict[str, Seen] = {}
        self.jobs: dict[str, Seen] = {}
        self.creations = [Creation() for _ in range(args.n)]
        self.watchers: list[Watcher] = []
        self.marks: dict[str, float] = {}  # wall-clock moments that bound the audit windows
        self.cpu: dict[str, float | None] = {}
        self.platform_cpu: dict[str, dict[str, float]] = {}
        self.processes = _component_processes(log_dir.parent) if log_dir is not None else {}

    def mark(self, name: str) -> None:
        self.marks[name] = time.time()
        self.cpu[name] = self.operator.cpu_seconds() if self.operator else None
        self.platform_cpu[name] = _cpu_by_component(self.processes)

    # -- phases --

    def create_namespace(self) -> None:
        from kubernetes.client.exceptions import ApiException

        self.mark("namespace")
        try:
            self.api.json("POST", "/apis/scheduling.k8s.io/v1/priorityclasses", body=_background_class())
        except ApiException as error:
            if error.status != 409:  # it exists: an earlier run made it
                raise
        self.api.json("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace",
                                                          "metadata": {"name": self.namespace}})
        _say(f"namespace {self.namespace}")

    def start_watches(self) -> None:
        import tda_contract as contract

        for path, selector, kind, book in ((_tdajobs_path(self.namespace), None, "tdajobs", self.tdajobs),
                                           (_jobs_path(self.namespace), contract.LABEL_TDAJOB, "jobs", self.jobs)):
            watcher = Watcher(self.api, path, selector, kind, book, self.lock)
            watcher.relist(stamp_all=False)
            watcher.start()
            self.watchers.append(watcher)
        for watcher in self.watchers:
            if not watcher.connected.wait(30):
                raise RuntimeError(f"the {watcher.kind} watch did not open")

    def create_unrelated(self) -> None:
        count = self.args.unrelated
        if not count:
            return
        started = time.monotonic()
        path = _jobs_path(self.namespace)

        def create(index: int) -> None:
            _retrying("unrelated Job", lambda: self.api.call("POST", path, body=_unrelated_job(self.namespace, index)))

        with ThreadPoolExecutor(self.args.threads) as pool:
            list(pool.map(create, range(count)))
        _say(f"{count} unrelated Jobs created in {time.monotonic() - started:.1f}s; "
             "waiting for the Job controller to mark them Suspended ...")
        deadline = time.monotonic() + 300
        suspended = 0
        while time.monotonic() < deadline:
            listing = self.api.json("GET", path, [("labelSelector", f"{UNRELATED_LABEL}=true")])
            suspended = sum(1 for job in listing["items"] if any(
                c.get("type") == "Suspended" and c.get("status") == "True"
                for c in (job.get("status") or {}).get("conditions") or []))
            if suspended >= count:
                break
            time.sleep(2.0)
        _say(f"{suspended}/{count} unrelated Jobs Suspended after {time.monotonic() - started:.1f}s")
        time.sleep(5.0)  # let every event of this phase reach (or not) the operator

    def _create_one(self, index: int) -> None:
        creation = self.creations[index]
        creation.sent = time.monotonic()
        body = _tdajob(self.namespace, self.names[index])
        try:
            _retrying(f"TDAJob {self.names[index]}",
                      lambda: self.api.call("POST", _tdajobs_path(self.namespace), body=body))
        except Exception as error:  # noqa: BLE001 - counted and reported
            creation.error = f"{type(error).__name__}: {error}"
        creation.done = time.monotonic()

    def create_tdajobs(self, pool: ThreadPoolExecutor) -> threading.Thread:
        """The scheduler thread: the i-th creation is due at start + i/rate."""
        start = time.monotonic() + 0.2

        def schedule() -> None:
            for index in range(self.args.n):
                due = start + index / self.args.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                self.creations[index].due = due
                pool.submit(self._create_one, index)

        thread = threading.Thread(target=schedule, name="scheduler", daemon=True)
        thread.start()
        return thread

    def counts(self) -> dict[str, int]:
        with self.lock:
            phases = collections.Counter(
                max(s.phases.items(), key=lambda kv: kv[1])[0] if s.phases else "(none)"
                for s in self.tdajobs.values())
            return {
                "created": sum(1 for c in self.creations if c.done),
                "seen": len(self.tdajobs),
                "jobs": len(self.jobs),
                "jobs_complete": sum(1 for s in self.jobs.values() if s.complete is not None),
                "succeeded": sum(1 for s in self.tdajobs.values() if "Succeeded" in s.phases),
                "failed": sum(1 for s in self.tdajobs.values() if "Failed" in s.phases),
                **{f"phase {k}": v for k, v in sorted(phases.items())},
            }

    def wait_finished(self, began: float) -> bool:
        deadline = began + self.args.timeout
        next_report = time.monotonic() + PROGRESS_SECONDS
        n = self.args.n
        while True:
            counts = self.counts()
            refused = sum(1 for c in self.creations if c.error)
            if counts["created"] >= n and counts["succeeded"] + counts["failed"] + refused >= n:
                return not refused
            now = time.monotonic()
            if now > deadline:
                _say(f"timeout after {self.args.timeout:.0f}s: {counts}")
                return False
            if now >= next_report:
                next_report += PROGRESS_SECONDS
                cpu = self.operator.cpu_seconds() if self.operator else None
                rss = self.operator.memory_mb("VmRSS") if self.operator else None
                text = ", ".join(f"{k} {v}" for k, v in counts.items())
                extra = f"; operator CPU {cpu - (self.cpu['namespace'] or 0):.1f}s, RSS {rss:.0f} MB" \
                    if cpu is not None and rss is not None else ""
                _say(f"{now - began:6.0f}s: {text}{extra}")
            time.sleep(0.5)

    def confirm(self) -> collections.Counter[str]:
        listing = self.api.json("GET", _tdajobs_path(self.namespace))
        return collections.Counter(str((t.get("status") or {}).get("phase")) for t in listing["items"])

    def stop_watches(self) -> None:
        for watcher in self.watchers:
            watcher.stopping.set()

    def delete_namespace(self) -> None:
        from kubernetes.client.exceptions import ApiException

        self.stop_watches()
        started = time.monotonic()
        self.mark("cleanup")
        try:
            self.api.call("DELETE", f"/api/v1/namespaces/{self.namespace}")
        except ApiException as error:
            if error.status != 404:
                raise
        _say(f"deleting namespace {self.namespace} ...")
        while time.monotonic() - started < 900:
            try:
                self.api.call("GET", f"/api/v1/namespaces/{self.namespace}")
            except ApiException as error:
                if error.status == 404:
                    _say(f"namespace {self.namespace} gone after {time.monotonic() - started:.0f}s")
                    self.mark("cleanup_done")
                    return
                raise
            time.sleep(2.0)
        self.mark("cleanup_done")
        _say(f"namespace {self.namespace} still terminating after 900s; leaving it to the namespace controller")


def _latencies(bench: Bench) -> tuple[dict[str, float], dict[str, float], list[str]]:
    create_to_job: dict[str, float] = {}
    complete_to_status: dict[str, float] = {}
    notes: list[str] = []
    relisted = 0
    with bench.lock:
        for name in bench.names:
            tdajob, job = bench.tdajobs.get(name), bench.jobs.get(name)
            if tdajob is None or job is None:
                continue
            if tdajob.relisted or job.relisted:
                relisted += 1
            if tdajob.first is not None and job.first is not None:
                create_to_job[name] = (job.first - tdajob.first) * 1000
            if job.complete is not None and "Succeeded" in tdajob.phases:
                complete_to_status[name] = (tdajob.phases["Succeeded"] - job.complete) * 1000
    if relisted:
        notes.append(f"{relisted} TDAJobs have a stamp from a re-list after a broken watch (not exact)")
    return create_to_job, complete_to_status, notes


def _report_latencies(bench: Bench, create_to_job: dict[str, float], complete_to_status: dict[str, float]) -> None:
    rows = []
    deciles = 10 if len(bench.names) >= 10 else 1
    size = math.ceil(len(bench.names) / deciles)
    for d in range(deciles):
        names = bench.names[d * size:(d + 1) * size]
        c2j = [create_to_job[n] for n in names if n in create_to_job]
        c2s = [complete_to_status[n] for n in names if n in complete_to_status]
        rows.append([f"{names[0]}..{names[-1]}" if names else "-", _percentile(c2j, 50), _percentile(c2j, 99),
                     max(c2j, default=None), _percentile(c2s, 50), _percentile(c2s, 99), max(c2s, default=None)])
    _say("latencies (ms) by creation order:\n" + format_table(
        ["TDAJobs", "c2j p50", "c2j p99", "c2j max", "c2s p50", "c2s p99", "c2s max"], rows))
    began = min((c.sent for c in bench.creations if c.sent), default=0.0)
    for label, values in (("create_to_job", create_to_job), ("complete_to_status", complete_to_status)):
        slowest = sorted(values.items(), key=lambda kv: kv[1], reverse=True)[:5]
        lines = []
        for name, ms in slowest:
            seen = bench.tdajobs[name]
            job = bench.jobs.get(name)
            at = (job.complete if label == "complete_to_status" and job else seen.first) or began
            lines.append(f"  {name}: {ms:.0f} ms at t={at - began:.1f}s; status trail {' > '.join(seen.trail)}")
        _say(f"slowest {label}:\n" + "\n".join(lines))
    trails = collections.Counter(" > ".join(s.trail) for s in bench.tdajobs.values())
    events = [s.events for s in bench.tdajobs.values()]
    rewrites = [(name, s) for name, s in bench.tdajobs.items() if len(s.statuses) > len(s.trail)]
    if rewrites:
        name, seen = rewrites[0]
        _say(f"{len(rewrites)} TDAJobs had a status change within one phase/reason (message only), e.g. "
             f"{name}:\n" + "\n".join(f"  {said}" for said in seen.statuses))
    for watcher in bench.watchers:
        if watcher.kind == "tdajobs" and watcher.changes:
            _say("TDAJob MODIFIED events by the status fields they changed (each is one status write, unless "
                 "unchanged):\n" + "\n".join(f"  {count:5d}  {what}" for what, count in watcher.changes.most_common(10)))
    _say(f"TDAJob watch events per TDAJob: p50 {_percentile(events, 50)}, max {max(events, default=0)}; "
         "status trails seen by the watch (phase/reason):\n" + "\n".join(
             f"  {count:5d}  {trail}" for trail, count in trails.most_common(8)))


def _rate(stamps: list[float]) -> float | None:
    """Events per second between the first and the last of these moments."""
    return (len(stamps) - 1) / (max(stamps) - min(stamps)) if len(stamps) > 1 and max(stamps) > min(stamps) else None


def _report_throughput(bench: Bench) -> None:
    """Where the pipeline's pace is set: the bench, the operator, the node."""
    with bench.lock:
        rates = {
            "TDAJobs seen (the bench's creations)": _rate([s.first for s in bench.tdajobs.values() if s.first]),
            "Jobs seen (the operator's creations)": _rate([s.first for s in bench.jobs.values() if s.first]),
            "Jobs Complete (the node's pods)": _rate([s.complete for s in bench.jobs.values() if s.complete]),
            "TDAJobs Succeeded (the operator's final status)":
                _rate([s.phases["Succeeded"] for s in bench.tdajobs.values() if "Succeeded" in s.phases]),
        }
    _say("throughput, first to last event of each kind (per second): " + "; ".join(
        f"{what} {rate:.2f}" if rate is not None else f"{what} -" for what, rate in rates.items()))


def _report_creations(bench: Bench) -> float | None:
    done = [c for c in bench.creations if c.sent]
    if not done:
        return None
    lag = [(c.sent - c.due) * 1000 for c in done]
    latency = [(c.done - c.sent) * 1000 for c in done if c.done]
    errors = [c.error for c in done if c.error]
    span = max(c.sent for c in done) - min(c.sent for c in done)
    achieved = (len(done) - 1) / span if span > 0 else None
    _say(f"creations: {len(done)} sent, achieved rate {achieved or 0:.2f}/s (target {bench.args.rate}/s); "
         f"lag behind schedule p50 {_percentile(lag, 50):.1f} ms, p99 {_percentile(lag, 99):.1f} ms, "
         f"max {max(lag):.1f} ms; create request p50 {_percentile(latency, 50):.1f} ms, "
         f"p99 {_percentile(latency, 99):.1f} ms; {len(errors)} failed" + (f" (first: {errors[0]})" if errors else ""))
    return achieved


def _report_audit(bench: Bench, n: int) -> tuple[float | None, float | None]:
    """The operator's requests from the audit log: tables on stderr; (writes, requests) per TDAJob."""
    if bench.log_dir is None:
        _say("no audit log (an existing cluster): the operator's requests are not counted")
        return None, None
    marks = bench.marks
    startup = _audit(bench.log_dir, marks["restart"], marks["namespace"]) if "restart" in marks else []
    selectors = _watch_selectors(startup)
    if selectors:
        _say("the restarted operator's list/watch label selectors, as sent: " + ", ".join(
            f"{resource}: {selector or '(none)'}" for resource, selector in sorted(selectors.items())))
        for resource in ("jobs", "pods", "configmaps"):
            if resource in selectors and not selectors[resource]:
                _say(f"WARNING: the operator lists/watches all {resource} with no label selector: "
                     "unrelated objects reach it")
    unrelated = _audit(bench.log_dir, marks["namespace"], marks["tdajobs"])
    run = _audit(bench.log_dir, marks["tdajobs"], marks["end"])
    both = unrelated + run
    _say(f"operator requests while the unrelated Jobs were created: {len(unrelated)} "
         f"({sum(1 for e in unrelated if e.get('verb') in WRITE_VERBS)} writes)")
    headers = ["verb", "resource", "subresource", "code", "count", "per TDAJob", "server p50 ms", "p99 ms"]
    writes = _audit_rows(both, n, writes=True)
    reads = _audit_rows(both, n, writes=False)
    _say("operator writes (audit log, namespace creation to the last Succeeded):\n" + format_table(headers, writes))
    _say("operator reads:\n" + format_table(headers, reads))
    write_count = sum(row[4] for row in writes)
    return write_count / n, len(both) / n


def _report_cleanup_audit(bench: Bench) -> None:
    if bench.log_dir is None or "cleanup" not in bench.marks:
        return
    time.sleep(2.0)
    entries = _audit(bench.log_dir, bench.marks["cleanup"], bench.marks.get("cleanup_done", time.time()))
    writes = _audit_rows(entries, max(bench.args.n, 1), writes=True)
    _say(f"operator requests while the namespace was deleted: {len(entries)}, "
         f"writes {sum(row[4] for row in writes)}" + ("\n" + format_table(
             ["verb", "resource", "subresource", "code", "count", "per TDAJob", "server p50 ms", "p99 ms"], writes)
                if writes else ""))


def _report_platform_cpu(bench: Bench) -> None:
    start, end = bench.platform_cpu.get("tdajobs") or {}, bench.platform_cpu.get("end") or {}
    if not start or not end:
        return
    total = end["(machine total)"] - start["(machine total)"]
    used = sorted(((name, end[name] - start.get(name, 0.0)) for name in end if name != "(machine total)"),
                  key=lambda item: -item[1])
    rows = [[name, round(seconds, 1), round(100 * seconds / total, 1) if total > 0 else None] for name, seconds in used]
    _say(f"CPU seconds from the first TDAJob to the last Succeeded ({os.cpu_count()} CPUs; the node agent's "
         "include its finished pods; % of all CPUs' time):\n" + format_table(["process", "CPU s", "%"], rows))


def _report_apiserver(before: dict[tuple[str, str, str, str], float] | None,
                      after: dict[tuple[str, str, str, str], float] | None, n: int) -> float | None:
    if before is None or after is None:
        return None
    delta = {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}
    writes = {k: v for k, v in delta.items() if k[0] in METRIC_WRITE_VERBS}
    rows = [[verb, f"{resource}.{group}" if group else resource, sub or "-", int(count), round(count / n, 3)]
            for (verb, group, resource, sub), count in sorted(writes.items(), key=lambda kv: -kv[1])]
    total = sum(writes.values())
    _say(f"API server write requests, all clients (apiserver_request_total, first TDAJob to last Succeeded): "
         f"{int(total)}, {total / n:.2f} per TDAJob\n" + format_table(
             ["verb", "resource", "subresource", "count", "per TDAJob"], rows[:20]))
    return total / n


def run(api: Api, args: argparse.Namespace, operator: OperatorProcess | None, log_dir: Path | None,
        restart_mark: float | None) -> tuple[dict[str, Any], bool]:
    bench = Bench(api, args, operator, log_dir)
    if restart_mark is not None:
        bench.marks["restart"] = restart_mark
    n = args.n
    finished = False
    pool = ThreadPoolExecutor(args.threads, thread_name_prefix="create")
    try:
        if operator is not None:  # what the operator costs doing nothing, to compare the unrelated phase with
            bench.mark("idle")
            time.sleep(IDLE_SECONDS)
        bench.create_namespace()
        bench.start_watches()
        bench.create_unrelated()
        before = _apiserver_requests(api)
        bench.mark("tdajobs")
        began = time.monotonic()
        _say(f"creating {n} TDAJobs at {args.rate}/s ...")
        bench.create_tdajobs(pool)
        finished = bench.wait_finished(began)
        wall = time.monotonic() - began
        bench.mark("end")
        after = _apiserver_requests(api)
        rss = operator.memory_mb("VmHWM") if operator else None
        rss_now = operator.memory_mb("VmRSS") if operator else None
        pool.shutdown(wait=True)
        phases = bench.confirm()
        _say(f"TDAJob phases listed at the end: {dict(phases)}; watch: {bench.counts()}; watch re-opens: "
             + ", ".join(f"{w.kind} {w.reconnects} (re-lists {w.relists})" for w in bench.watchers))
        time.sleep(2.0)  # the audit backend writes as requests finish
        achieved = _report_creations(bench)
        create_to_job, complete_to_status, notes = _latencies(bench)
        for note in notes:
            _say(note)
        _say(f"latencies over {len(create_to_job)} (create_to_job) and {len(complete_to_status)} "
             f"(complete_to_status) of {n} TDAJobs")
        _report_throughput(bench)
        _report_latencies(bench, create_to_job, complete_to_status)
        writes, requests = _report_audit(bench, n)
        apiserver_writes = _report_apiserver(before, after, n)
        cpu_start, cpu_end = bench.cpu.get("namespace"), bench.cpu.get("end")
        cpu = cpu_end - cpu_start if cpu_start is not None and cpu_end is not None else None
        if operator is not None and cpu is not None:
            unrelated_s = bench.marks["tdajobs"] - bench.marks["namespace"]
            cpu_unrelated = (bench.cpu["tdajobs"] or 0) - (cpu_start or 0)
            idle = (cpu_start or 0) - (bench.cpu.get("idle") or 0)
            _say(f"operator: {cpu:.2f} CPU s; of these {cpu_unrelated:.2f} s in the {unrelated_s:.0f} s while the "
                 f"{args.unrelated} unrelated Jobs were created and suspended (idle, before: {idle:.2f} s in "
                 f"{IDLE_SECONDS:.0f} s); VmHWM {rss or 0:.1f} MB (the peak of the whole process life since its "
                 f"restart: start-up plus this run), VmRSS at the end {rss_now or 0:.1f} MB; alive: {operator.alive()}")
            _say(f"operator metrics: {_operator_metrics(operator)}")
        _report_platform_cpu(bench)
        figures = {
            "tdajobs": n,
            "unrelated_jobs": args.unrelated,
            "rate_per_s": _round(achieved, 2),
            "create_to_job_p50_ms": _round(_percentile(list(create_to_job.values()), 50)),
            "create_to_job_p99_ms": _round(_percentile(list(create_to_job.values()), 99)),
            "complete_to_status_p50_ms": _round(_percentile(list(complete_to_status.values()), 50)),
            "complete_to_status_p99_ms": _round(_percentile(list(complete_to_status.values()), 99)),
            "writes_per_tdajob": _round(writes, 3),
            "requests_per_tdajob": _round(requests, 3),
            "apiserver_writes_per_tdajob": _round(apiserver_writes, 3),
            "operator_cpu_s": _round(cpu, 2),
            "operator_rss_mb": _round(rss, 1),
            "wall_s": round(wall, 1),
        }
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        bench.stop_watches()
        bench.delete_namespace()
    _report_cleanup_audit(bench)
    return figures, finished


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="TDAJobs (default 1000)")
    parser.add_argument("--rate", type=float, default=20.0, help="TDAJob creations per second (default 20)")
    parser.add_argument("--unrelated", type=int, default=2000, help="suspended unrelated Jobs first (default 2000)")
    parser.add_argument("--threads", type=int, default=32,
                        help="client threads creating objects (default 32: enough for the rate when a create takes 1 s)")
    parser.add_argument("--timeout", type=float, default=5400.0,
                        help="seconds from the first creation until every TDAJob must be Succeeded (default 5400)")
    parser.add_argument("--keep-platform", action="store_true",
                        help="leave a platform this run started running (default: stop it at the end)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.rate <= 0:
        parser.error("--n must be at least 1 and --rate positive")

    from tda_dev import paths, platform

    external = bool(os.environ.get("TDA_KUBECONFIG"))
    state_dir = paths.state_dir()
    # What ran before: a live operator is restarted, a platform this run starts is stopped at the end.
    prior = None if external else _operator_record(state_dir)
    was_running = not external and bool(_component_processes(state_dir).get("kube-apiserver"))
    before_up = time.time()
    info = platform.up()
    started_platform = not info.external and not was_running
    operator: OperatorProcess | None = None
    log_dir: Path | None = None
    restart_mark: float | None = None
    if info.external:
        _say("an existing cluster (TDA_KUBECONFIG): no audit log and no operator process to read; "
             "those figures are null")
    else:
        assert info.state_dir is not None
        log_dir = info.state_dir / "logs"
        if prior is not None and prior.alive():
            restart_mark = time.time()
            operator = _restart_operator(platform, info.state_dir, prior)
        else:
            restart_mark = before_up
            operator = _operator_record(info.state_dir)
            if operator is None:
                raise SystemExit("bench-operator: the platform runs no operator (TDA_DEV_OPERATOR=0?); "
                                 "this benchmark measures the platform's own operator")
            _say(f"operator started with the platform just now: pid {operator.pid}")
        time.sleep(3.0)  # the operator's initial lists are in before anything is created
        if _renice_node_agent(info.state_dir, NODE_NICENESS):
            _say(f"the node agent runs at niceness {NODE_NICENESS} for this run")
    api = Api(info.kubeconfig, pool=args.threads + 8)
    try:
        figures, finished = run(api, args, operator, log_dir, restart_mark)
    finally:
        if info.state_dir is not None and not started_platform:
            _renice_node_agent(info.state_dir, 0)
        if started_platform and not args.keep_platform:
            platform.down()
    emit_json(figures)
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
