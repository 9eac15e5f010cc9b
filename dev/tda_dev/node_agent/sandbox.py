"""Starting a container process in its own mount namespace, and killing all it leaves behind.

A container's processes are found again by what the agent recorded (pid and
start time) and by their mount namespace, so that none survive the agent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

from . import exec_helper

# Run by path, as a plain script: it must not depend on this package being importable.
HELPER = os.path.abspath(exec_helper.__file__)


def launch(spec_file: Path, log: IO[bytes], background: bool = False) -> subprocess.Popen[bytes]:
    """The container's process: the exec helper in new mount and UTS namespaces, in its own session.

    ``background`` (a pod of negative priority) runs it under SCHED_IDLE: it gets only the CPU
    nothing else wants. On a cluster the control plane has machines of its own; here pods share
    two cores with it, and this is how a pod is kept from starving it."""
    # `chrt` and `unshare` exec (no fork), so the pid we get is the container's own process.
    return subprocess.Popen(
        [*(["chrt", "--idle", "0"] if background else []), "unshare", "--mount", "--uts", "--propagation", "private",
         sys.executable, "-I", HELPER, str(spec_file)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, close_fds=True, env={"PATH": os.environ.get("PATH", "")},
    )


def start_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return -1


def mntns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def kill_namespace(ns: str) -> None:
    """SIGKILL every process in a container's mount namespace (those that left its process group)."""
    if ns == mntns(os.getpid()):
        return
    for entry in os.listdir("/proc"):
        if entry.isdigit() and mntns(int(entry)) == ns:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGKILL)


def kill_pod_processes(state_dir: Path) -> int:
    """Kill the container processes recorded under state_dir; returns how many were alive.

    The agent does this itself on shutdown and on start-up (after a crash).
    `tda-dev down` can call it as a last resort once the agent is gone.
    """
    killed = 0
    for pid_file in Path(state_dir).glob("pods/*/containers/*/pid"):
        with contextlib.suppress(OSError, ValueError):
            pid, ticks = (int(x) for x in pid_file.read_text().split())
            if start_ticks(pid) == ticks:
                ns = mntns(pid)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                if ns:
                    kill_namespace(ns)
                killed += 1
            pid_file.unlink()
    return killed
