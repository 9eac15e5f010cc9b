"""The agent's command line, as `tda-dev up` starts it (`python -m tda_dev.node_agent`)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .api import Kube
from .exec_helper import exec_helper
from .node import Agent

DESCRIPTION = "The local node agent: a stand-in for kubelet + a container runtime."


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--exec-helper"]:
        exec_helper(args[1])
        return
    parser = argparse.ArgumentParser(prog="tda-node-agent", description=DESCRIPTION)
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
