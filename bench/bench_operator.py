"""Operator overhead: N TDAJobs through the operator vs the same N Jobs from a raw client.

Both sides run on the local platform in the same session, one after the other, with the
same pod template (``builders.build_job``) and the same spec ConfigMaps, created by a
pool of client threads. The raw side's clock stops when every Job is Complete; the
operator side's when every TDAJob reports phase Succeeded (so it includes the status
round trip), and the operator's peak RSS is read from /proc (VmHWM).

    python bench/bench_operator.py [--n 500] [--threads 16]

Last line: {"tdajobs": N, "operator_seconds": a, "raw_seconds": b, "ratio": a/b, "operator_rss_mb": m}
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tda_dev.net import free_port

POINTS = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]]


def _say(message: str) -> None:
    print(f"bench-operator: {message}", file=sys.stderr, flush=True)


def _tdajob(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "tda.io/v1alpha1",
        "kind": "TDAJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"input": {"inline": {"points": POINTS}}, "computation": {"maxDimension": 1}},
    }


def _raw_objects(namespace: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ConfigMap and Job the operator would make, without an owning TDAJob."""
    from tda_operator import builders
    from tda_operator.models import TDAJob
    from tda_operator.settings import Settings

    body = _tdajob(namespace, name)
    body["metadata"]["uid"] = str(uuid.uuid4())
    tdajob = TDAJob.model_validate(body)
    config_map = builders.build_spec_config_map(tdajob, builders.datasets_for(tdajob), 1)
    job = builders.build_job(tdajob, Settings.from_env(), 1)
    for obj in (config_map, job):
        obj["metadata"].pop("ownerReferences")
    return config_map, job


def _namespace(core: Any, prefix: str) -> str:
    from kubernetes import client

    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def _worker_identity(api: Any, namespace: str) -> None:
    from kubernetes import utils
    from tda_operator import builders
    from tda_operator.settings import Settings

    for obj in builders.build_worker_rbac(namespace, Settings.from_env()):
        utils.create_from_dict(api, obj)


def _wait_until(what: str, done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        finished, total = done()
        if f"{finished}/{total}" != last:
            last = f"{finished}/{total}"
        if finished >= total:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: only {last} after {timeout:.0f}s")
        time.sleep(1.0)


def _jobs_complete(batch: Any, namespace: str, n: int) -> tuple[int, int]:
    jobs = batch.list_namespaced_job(namespace).items
    complete = sum(
        1 for j in jobs if any(c.type == "Complete" and c.status == "True" for c in (j.status.conditions or []))
    )
    return complete, n


def _tdajobs_succeeded(custom: Any, namespace: str, n: int) -> tuple[int, int]:
    items = custom.list_namespaced_custom_object("tda.io", "v1alpha1", namespace, "tdajobs")["items"]
    return sum(1 for t in items if (t.get("status") or {}).get("phase") == "Succeeded"), n


def run_raw(api: Any, n: int, threads: int, timeout: float) -> float:
    from kubernetes import client

    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    namespace = _namespace(core, "bench-raw")
    _worker_identity(api, namespace)
    objects = [_raw_objects(namespace, f"j{i:04d}") for i in range(n)]
    started = time.monotonic()

    def submit(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
        config_map, job = pair
        core.create_namespaced_config_map(namespace, config_map)  # type: ignore[arg-type]  # dicts are accepted
        batch.create_namespaced_job(namespace, job)  # type: ignore[arg-type]

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(submit, objects))
    _wait_until("raw Jobs Complete", lambda: _jobs_complete(batch, namespace, n), timeout)
    elapsed = time.monotonic() - started
    core.delete_namespace(namespace)
    return elapsed


def run_operator(api: Any, n: int, threads: int, timeout: float) -> float:
    from kubernetes import client

    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    namespace = _namespace(core, "bench-op")
    bodies = [_tdajob(namespace, f"j{i:04d}") for i in range(n)]
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda b: custom.create_namespaced_custom_object(
            "tda.io", "v1alpha1", namespace, "tdajobs", b), bodies))
    _wait_until("TDAJobs Succeeded", lambda: _tdajobs_succeeded(custom, namespace, n), timeout)
    elapsed = time.monotonic() - started
    core.delete_namespace(namespace)
    return elapsed


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="TDAJobs (and raw Jobs) per side")
    parser.add_argument("--threads", type=int, default=16, help="client threads creating objects")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per side")
    parser.add_argument("--idle", type=int, default=500,
                        help="then N more suspended TDAJobs, for the operator's RSS with N+n objects (0: skip)")
    parser.add_argument("--rss-only", type=int, default=0, metavar="N",
                        help="only measure the operator's peak RSS with N suspended TDAJobs")
    args = parser.parse_args(argv)

    from kubernetes import config
    from tda_dev import platform

    info = platform.current()
    started_platform = info is None
    if started_platform:
        os.environ["TDA_DEV_OPERATOR"] = "0"  # the benchmark runs (and measures) its own operator
        info = platform.up()
    elif _platform_operator_pid(info) is not None:
        _say("the platform runs its own operator; bring it up with TDA_DEV_OPERATOR=0 to benchmark")
        return 2
    api = config.new_client_from_config(str(info.kubeconfig))
    api.configuration.connection_pool_maxsize = args.threads * 2
    try:
        figures = _measure(api, info, args)
    finally:
        if started_platform:
            platform.down()
    print(json.dumps(figures))
    return 0


def _measure(api: Any, info: Any, args: argparse.Namespace) -> dict[str, Any]:
    if args.rss_only:
        return _measure_rss_only(api, info, args)
    _say(f"raw client: {args.n} Jobs ...")
    raw_seconds = run_raw(api, args.n, args.threads, args.timeout)
    _say(f"raw: {raw_seconds:.1f}s")

    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-operator-", suffix=".log", delete=False)  # noqa: SIM115
    operator = subprocess.Popen(
        [sys.executable, "-m", "tda_operator.cli", "run", "--all-namespaces", "--metrics-port", str(port)],
        env=dict(os.environ, KUBECONFIG=str(info.kubeconfig)), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    figures: dict[str, Any] = {}
    try:
        _wait_until("operator up", lambda: (_healthy(port), 1), 60)
        _say(f"operator: {args.n} TDAJobs ... (log {log.name})")
        operator_seconds = run_operator(api, args.n, args.threads, args.timeout)
        rss_mb = _peak_rss_mb(operator.pid)
        cpu = _cpu_seconds(operator.pid)
        _say(f"operator: {operator_seconds:.1f}s, peak RSS {rss_mb:.0f} MB, {cpu:.1f} CPU seconds")
        if args.idle:
            _say(f"operator holding {args.idle} more (suspended) TDAJobs ...")
            run_idle(api, args.idle, args.threads, args.timeout)
            figures["idle_tdajobs"] = args.idle
            figures["operator_rss_mb_with_idle"] = round(_peak_rss_mb(operator.pid), 1)
            _say(f"peak RSS with {args.idle} more TDAJobs: {figures['operator_rss_mb_with_idle']} MB")
    finally:
        os.killpg(operator.pid, signal.SIGTERM)
        operator.wait(timeout=30)
    return {
        **figures,
        "operator_cpu_seconds": round(cpu, 1),
        "tdajobs": args.n,
        "operator_seconds": round(operator_seconds, 2),
        "raw_seconds": round(raw_seconds, 2),
        "ratio": round(operator_seconds / raw_seconds, 3),
        "operator_rss_mb": round(rss_mb, 1),
    }


def _measure_rss_only(api: Any, info: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Only the operator's peak RSS while it takes on N suspended TDAJobs at once."""
    port = free_port()
    operator = subprocess.Popen(
        [sys.executable, "-m", "tda_operator.cli", "run", "--all-namespaces", "--metrics-port", str(port)],
        env=dict(os.environ, KUBECONFIG=str(info.kubeconfig)), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        _wait_until("operator up", lambda: (_healthy(port), 1), 60)
        started = time.monotonic()
        run_idle(api, args.rss_only, args.threads, args.timeout)
        return {"tdajobs": args.rss_only, "seconds_to_suspended": round(time.monotonic() - started, 2),
                "operator_rss_mb": round(_peak_rss_mb(operator.pid), 1)}
    finally:
        os.killpg(operator.pid, signal.SIGTERM)
        operator.wait(timeout=30)


def run_idle(api: Any, n: int, threads: int, timeout: float) -> None:
    """N suspended TDAJobs (Jobs but no pods): the operator's memory per object it tracks."""
    from kubernetes import client

    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    namespace = _namespace(core, "bench-idle")
    bodies = [_tdajob(namespace, f"s{i:04d}") for i in range(n)]
    for body in bodies:
        body["spec"]["suspend"] = True
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda b: custom.create_namespaced_custom_object(
            "tda.io", "v1alpha1", namespace, "tdajobs", b), bodies))

    def suspended() -> tuple[int, int]:
        listed: Any = custom.list_namespaced_custom_object("tda.io", "v1alpha1", namespace, "tdajobs")
        return sum(1 for t in listed["items"] if (t.get("status") or {}).get("phase") == "Suspended"), n

    _wait_until("TDAJobs Suspended", suspended, timeout)


def _platform_operator_pid(info: Any) -> int | None:
    try:
        state = json.loads((info.state_dir / "state.json").read_text())
        pid = int(state["processes"]["tda-operator"]["pid"])
        os.kill(pid, 0)
        return pid
    except (OSError, KeyError, ValueError, TypeError, AttributeError):
        return None


def _healthy(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return int(response.status == 200)
    except OSError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
