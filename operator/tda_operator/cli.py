"""`tda-operator`: run the kopf operator that reconciles TDAJob and TDAStream, or write its CRDs."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import sys
from pathlib import Path


def _limit_malloc_arenas() -> None:
    """glibc gives each thread its own malloc arena; with a pool of handler threads that
    multiplies the resident heap for no gain in a mostly-waiting operator."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to tune
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX = 2


def _run(args: argparse.Namespace) -> int:
    _limit_malloc_arenas()
    if args.kubeconfig:  # before the client library is imported: it reads KUBECONFIG once
        os.environ["KUBECONFIG"] = args.kubeconfig
    import kopf

    from . import handlers, metrics  # noqa: F401 - importing handlers registers them with kopf

    metrics.serve(args.metrics_port)
    if args.leader_election:
        _lead(args.leader_election)
    namespaces = args.namespace or [ns for ns in os.environ.get("TDA_OPERATOR_NAMESPACES", "").split(",") if ns]
    clusterwide = args.all_namespaces or not namespaces
    print(
        f"tda-operator: watching {'all namespaces' if clusterwide else ', '.join(namespaces)}; "
        f"metrics on :{args.metrics_port}/metrics",
        file=sys.stderr,
        flush=True,
    )
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.PLAIN)
    if not args.verbose:  # one line per watch event (or per probe of /healthz) says nothing an operator needs
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    kopf.run(
        clusterwide=clusterwide,
        namespaces=[] if clusterwide else namespaces,
        liveness_endpoint=args.liveness,
    )
    return 0


def _lead(lease_name: str) -> None:
    """Blocks until this replica leads; exits the process should it stop leading."""
    from . import leader

    namespace = os.environ.get("POD_NAMESPACE") or "tda-system"
    elector = leader.LeaderElector(namespace, lease_name, leader.identity())
    elector.acquire()

    def lost() -> None:
        print("tda-operator: lost leadership; exiting so that a standby takes over", file=sys.stderr, flush=True)
        os._exit(1)  # no clean-up: another replica may already be working

    elector.keep(lost)


def _crds(args: argparse.Namespace) -> int:
    from . import crd

    for path in crd.write([args.out]):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tda-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="run the operator (the default)")
    run.add_argument("--namespace", "-n", action="append", help="watch only this namespace (repeatable)")
    run.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace (default)")
    run.add_argument("--metrics-port", type=int, default=int(os.environ.get("TDA_OPERATOR_METRICS_PORT", "8080")),
                     help="port of /metrics and /healthz (default 8080)")
    run.add_argument("--liveness", default=os.environ.get("TDA_OPERATOR_LIVENESS"),
                     help="kopf liveness endpoint, e.g. http://0.0.0.0:8081/healthz")
    run.add_argument("--leader-election", metavar="LEASE", default=os.environ.get("TDA_OPERATOR_LEADER_ELECTION"),
                     help="with several replicas: work only while holding this Lease (in $POD_NAMESPACE)")
    run.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster or $KUBECONFIG)")
    run.add_argument("--verbose", "-v", action="store_true", help="log every handler step")
    crds = commands.add_parser("crds", help="write the CRD YAML generated from the models")
    crds.add_argument("--out", type=Path, default=Path("crds"), help="output directory (default crds/)")
    args = parser.parse_args(argv)
    if args.command == "crds":
        return _crds(args)
    if args.command is None:
        parser.print_help()
        return 0
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
