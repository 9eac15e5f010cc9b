"""`tda-dev`: bring the local platform up, inspect it, take it down."""

from __future__ import annotations

import argparse
import sys

from . import platform
from .binaries import BinariesError, ensure_binaries


def _up(args: argparse.Namespace) -> int:
    info = platform.up()
    print(f"ready: {info.api_url}\nrun:   eval \"$(tda-dev env)\"")
    return 0


def _down(args: argparse.Namespace) -> int:
    platform.down()
    return 0


def _status(args: argparse.Namespace) -> int:
    return 0 if platform.status() else 1


def _env(args: argparse.Namespace) -> int:
    print("\n".join(platform.env_lines()))
    return 0


def _binaries(args: argparse.Namespace) -> int:
    for name, path in ensure_binaries().items():
        print(f"{name:<24} {path}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.main(args.rest)


def _demo_stream(args: argparse.Namespace) -> int:
    from . import stream_demo

    return stream_demo.main(args.rest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tda-dev",
        description="The local TDA platform: a real Kubernetes control plane on loopback, no Docker needed.",
        epilog="TDA_KUBECONFIG=<file> uses an existing cluster instead of starting one; "
        "TDA_STATE_DIR moves the state directory; TDA_<COMPONENT>_PORT (e.g. TDA_APISERVER_PORT) "
        "fixes a port; KUBEBUILDER_ASSETS supplies envtest's etcd, kube-apiserver and kubectl.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (
        ("up", _up, "start the platform (idempotent); returns when everything is ready"),
        ("down", _down, "stop everything `up` started"),
        ("status", _status, "show each component and its health"),
        ("env", _env, "print shell exports for KUBECONFIG and PATH (kubectl, helm)"),
        ("binaries", _binaries, "build (once) and list the control-plane binaries"),
    ):
        sub.add_parser(name, help=text, description=text).set_defaults(func=func)
    # The demo parses its own options (`tda-dev demo --help`).
    demo = sub.add_parser("demo", help="run one TDAJob end to end on the platform", add_help=False)
    demo.set_defaults(func=_demo)
    demo_stream = sub.add_parser("demo-stream", help="run one TDAStream end to end on the platform", add_help=False)
    demo_stream.set_defaults(func=_demo_stream)
    args, rest = parser.parse_known_args(argv)
    if rest and args.func not in (_demo, _demo_stream):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.rest = rest
    try:
        return int(args.func(args))
    except (platform.PlatformError, BinariesError) as e:
        print(f"tda-dev: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
