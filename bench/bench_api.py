"""bench-api: the REST facade under load, next to the API server's own create rate.

On the local platform (reused when it runs, started otherwise; ``TDA_STATE_DIR`` picks a
private one) this starts ``tda-server`` as its own process under the ``tda-api``
ServiceAccount of examples/rbac/api.yaml, makes a user ServiceAccount with rights in one
fresh namespace, and then, from a separate load-generator process on loopback
(bench/loadgen, in Go so that its own CPU stays small beside the facade's on a 2-core
machine; keep-alive HTTP/1.1, ``--connections`` at once):

1. GETs one TDAJob through the facade for ``--seconds`` (the cached path: TokenReview and
   SubjectAccessReview answers cached, the object from the watch-fed cache);
2. POSTs ``--creates`` new TDAJobs through the facade (each one impersonated to the API server);
3. POSTs the same number of the same TDAJobs straight to kube-apiserver with the user's token.

Jobs are created suspended, so no pods run and the numbers are the request paths'. The last
line of output is one JSON object: get_rps, get_p95_ms, post_rps, post_p95_ms, raw_create_rps,
connections, and the CPU per request of the facade and of the load generator (ms).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def _say(message: str) -> None:
    print(f"bench-api: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ load generator

LOADGEN_SOURCE = REPO / "bench" / "loadgen"
LOADGEN = REPO / "build" / "loadgen"


def build_loadgen() -> Path:
    """The Go load generator (standard library only; Go's build cache makes a rebuild instant)."""
    LOADGEN.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["go", "build", "-o", str(LOADGEN), "."], cwd=LOADGEN_SOURCE, check=True,
                   env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}, timeout=600)
    return LOADGEN


def load_phase(**options: Any) -> dict[str, Any]:
    """One phase of load from a separate process; its figures, plus its own CPU per request."""
    argv = [str(LOADGEN)]
    for key, value in options.items():
        if value is not None:
            argv.append(f"-{key}={value}")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=900).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["loadgen_cpu_ms_per_request"] = round(1000 * cpu / max(result["requests"], 1), 3)
    return result


# ------------------------------------------------------------------------------ set-up


def cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float:
    """User + system CPU of processes so far (from /proc)."""
    total = 0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def tdajob(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"input": {"inline": {"points": [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]}},
                                                "suspend": True}}


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench-api", description=__doc__)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--creates", type=int, default=500)
    parser.add_argument("--replicas", type=int, default=1,
                        help="tda-server processes; the load generator spreads its connections over them, "
                             "as a Service spreads them over a Deployment's pods")
    args = parser.parse_args()

    import yaml
    from integration.test_api import (
        API_RBAC,
        apply_manifest,
        make_user,
        service_account_token,
        token_kubeconfig,
    )
    from kubernetes import client, config
    from support import wait_for
    from tda_dev import platform as local
    from tda_dev.net import free_port

    build_loadgen()
    info = local.current() or local.up()
    api_client = config.new_client_from_config(str(info.kubeconfig))
    core = client.CoreV1Api(api_client)
    apply_manifest(api_client, API_RBAC)
    namespace = f"bench-api-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": namespace}})
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    servers: list[subprocess.Popen[bytes]] = []
    try:
        user = make_user(api_client, core, namespace, "loader")
        kubeconfig = token_kubeconfig(info, service_account_token(core, "tda-system", "tda-api"), workdir / "kubeconfig")
        urls = []
        for replica in range(args.replicas):
            port = free_port()
            log = open(workdir / f"tda-server-{replica}.log", "wb")  # noqa: SIM115 - lives as long as the server
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "tda_api.cli", "--host", "127.0.0.1", "--port", str(port),
                 "--kubeconfig", str(kubeconfig)], stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ)))
            urls.append(f"http://127.0.0.1:{port}")
        url = ",".join(urls)
        headers = {"Authorization": f"Bearer {user.token}"}
        jobs = f"/v1/namespaces/{namespace}/jobs"
        import httpx

        def status(address: str, path: str) -> int:
            try:
                return httpx.get(address + path, headers=headers, timeout=5).status_code
            except httpx.HTTPError:
                return 0

        for address in urls:
            wait_for("tda-server /readyz", lambda a=address: status(a, "/readyz") == 200, timeout=60)
        assert httpx.post(urls[0] + jobs, json=tdajob("target"), headers=headers, timeout=30).status_code == 201
        for address in urls:
            wait_for("the target in the cache", lambda a=address: status(a, f"{jobs}/target") == 200, timeout=30)

        _say(f"GET {jobs}/target for {args.seconds:.0f}s over {args.connections} connections ...")
        cpu = cpu_seconds(servers)
        get = load_phase(url=url, token=user.token, mode="get", path=f"{jobs}/target",
                         connections=args.connections, seconds=args.seconds)
        get_cpu, cpu = cpu_seconds(servers) - cpu, cpu_seconds(servers)
        _say(f"GET: {get}; tda-server CPU {1000 * get_cpu / max(get['requests'], 1):.2f} ms per request")
        body = json.dumps(tdajob("api-@INDEX@"))
        _say(f"POST {args.creates} TDAJobs through the facade ...")
        post = load_phase(url=url, token=user.token, mode="post", path=jobs, body=body,
                          connections=args.connections, creates=args.creates)
        post_cpu = cpu_seconds(servers) - cpu
        _say(f"POST: {post}; tda-server CPU {1000 * post_cpu / max(post['requests'], 1):.2f} ms per request")
        raw_body = json.dumps({"apiVersion": "tda.io/v1alpha1", "kind": "TDAJob", **tdajob("raw-@INDEX@")})
        admin = yaml.safe_load(Path(info.kubeconfig).read_text())["clusters"][0]["cluster"]
        _say(f"POST {args.creates} TDAJobs straight to kube-apiserver ...")
        raw = load_phase(url=admin["server"], token=user.token, mode="post", ca=str(info.ca_file) if info.ca_file else None,
                         path=f"/apis/tda.io/v1alpha1/namespaces/{namespace}/tdajobs", body=raw_body,
                         connections=args.connections, creates=args.creates)
        _say(f"raw create: {raw}")
        # The API server's own cost of impersonation: the facade's identity, acting as the user.
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]
        impersonation = [["Impersonate-User", f"system:serviceaccount:{namespace}:loader"],
                         *(["Impersonate-Group", g] for g in groups)]
        facade_token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
        raw_as = load_phase(url=admin["server"], token=facade_token, mode="post", ca=str(info.ca_file) if info.ca_file else None,
                            path=f"/apis/tda.io/v1alpha1/namespaces/{namespace}/tdajobs",
                            body=raw_body.replace("raw-", "imp-"), headers=json.dumps(impersonation),
                            connections=args.connections, creates=args.creates)
        _say(f"raw create, impersonated (not part of the figures): {raw_as}")
        if set(get["statuses"]) != {"200"} or set(post["statuses"]) != {"201"} or set(raw["statuses"]) != {"201"}:
            raise SystemExit(f"bench-api: unexpected statuses: {get['statuses']} {post['statuses']} {raw['statuses']}")
        print(json.dumps({
            "get_rps": round(get["rps"], 1), "get_p95_ms": round(get["p95_ms"], 1),
            "post_rps": round(post["rps"], 1), "post_p95_ms": round(post["p95_ms"], 1),
            "raw_create_rps": round(raw["rps"], 1), "connections": args.connections, "replicas": args.replicas,
            "get_facade_cpu_ms": round(1000 * get_cpu / max(get["requests"], 1), 3),
            "get_loadgen_cpu_ms": get["loadgen_cpu_ms_per_request"],
            "post_facade_cpu_ms": round(1000 * post_cpu / max(post["requests"], 1), 3),
        }))
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        core.delete_namespace(namespace)


if __name__ == "__main__":
    main()
