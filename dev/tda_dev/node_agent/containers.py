"""One run of one container: its process, and what it leaves for the pod's status.

Exit code, start error, termination message and log tail are what kubelet
reports of a container; they are read here from the files the run left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .api import now
from .probes import ProbeState
from .sandbox import kill_namespace, launch, mntns, start_ticks

TERMINATION_MESSAGE_MAX = 4096
FALLBACK_LOG_LINES = 80
DEFAULT_TERMINATION_PATH = "/dev/termination-log"


class Container:
    """One run of one container: a process and what is needed to report it."""

    def __init__(self, name: str, spec: dict[str, Any], cdir: Path, log_file: Path) -> None:
        self.name = name
        self.spec = spec
        self.dir = cdir
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.mntns: str | None = None
        self.ns_fd: int | None = None
        self.started_at = ""
        self.started_mono = 0.0
        self.log_offset = 0
        self.env: dict[str, str] = {}
        self.probes = {kind: ProbeState(spec[kind])
                       for kind in ("startupProbe", "livenessProbe", "readinessProbe") if spec.get(kind)}

    @property
    def term_file(self) -> Path:
        return self.dir / "termination-log"

    @property
    def error_file(self) -> Path:
        return self.dir / "start-error"

    def start(self, argv: list[str], env: dict[str, str], mounts: list[dict[str, Any]],
              scratch: Path, hostname: str, working_dir: str, read_only_root: bool, background: bool = False) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        scratch.mkdir(parents=True, exist_ok=True)
        self.term_file.write_bytes(b"")
        self.error_file.unlink(missing_ok=True)
        self.env = env
        term_path = self.spec.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH
        mounts = [*mounts, {"source": str(self.term_file), "target": term_path, "readOnly": False}]
        spec = {"argv": argv, "env": env, "mounts": mounts, "scratch": str(scratch), "hostname": hostname,
                "workingDir": working_dir, "error_file": str(self.error_file), "readOnlyRoot": read_only_root,
                "software": software_dirs()}
        spec_file = self.dir / "spec.json"
        fd = os.open(spec_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as logf:
            self.log_offset = logf.tell()
            self.proc = launch(spec_file, logf, background)
        self.started_at = now()
        self.started_mono = time.monotonic()
        pid_record = f"{self.proc.pid} {start_ticks(self.proc.pid)}\n"
        (self.dir / "pid").write_text(pid_record)

    def poll(self) -> int | None:
        """Exit code (128+signal for a signal, as kubelet reports), or None while running.

        The process is reaped only after its group and namespace were cleared:
        until then its pid (= process group id) cannot be reused by another
        container, and the namespace we hold open keeps its inode number ours.
        """
        proc = self.proc
        if proc is None:
            return None
        if proc.returncode is None:
            if self.ns_fd is None:
                self._hold_namespace()
            if not self.exited():
                return None
            self._clear_leftovers()
            proc.wait()
        rc = proc.returncode
        return 128 - rc if rc < 0 else rc

    def exited(self) -> bool:
        """Whether the process has ended, without reaping it (poll() does that)."""
        if self.proc is None or self.proc.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def _hold_namespace(self) -> None:
        assert self.proc is not None
        ns = mntns(self.proc.pid)
        if ns and ns != mntns(os.getpid()):
            with contextlib.suppress(OSError):
                self.ns_fd = os.open(f"/proc/{self.proc.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
                self.mntns = ns

    def _clear_leftovers(self) -> None:
        """SIGKILL what the container left running: its process group and anything in its namespace."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.mntns and self.ns_fd is not None:
            kill_namespace(self.mntns)
        if self.ns_fd is not None:
            os.close(self.ns_fd)
            self.ns_fd = None

    def signal(self, sig: int) -> None:
        # Only while not reaped: after that the pid may belong to someone else.
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the container and whatever it started; reaps it."""
        if self.proc is not None and self.proc.returncode is None:
            if self.ns_fd is None:
                self._hold_namespace()
            self._clear_leftovers()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        (self.dir / "pid").unlink(missing_ok=True)

    def termination_message(self, exit_code: int) -> str:
        with contextlib.suppress(OSError):
            err = self.error_file.read_text(errors="replace").strip()
            if err:
                return err
        msg = ""
        with contextlib.suppress(OSError), open(self.term_file, "rb") as f:
            msg = f.read(TERMINATION_MESSAGE_MAX).decode("utf-8", "replace")
        if not msg and exit_code != 0 and self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            msg = self.log_tail()
        return msg

    def log_tail(self) -> str:
        try:
            with open(self.log_file, "rb") as f:
                f.seek(self.log_offset)
                data = f.read()
        except OSError:
            return ""
        tail = b"\n".join(data.splitlines()[-FALLBACK_LOG_LINES:])[-TERMINATION_MESSAGE_MAX:]
        return tail.decode("utf-8", "replace")

    def started_error(self) -> bool:
        with contextlib.suppress(OSError):
            return self.error_file.stat().st_size > 0
        return False


def software_dirs() -> list[str]:
    """What stands for a pod's image here: the node's Python environment and the project it runs.

    They stay visible in every pod even under a volume mounted over a parent directory (an
    emptyDir at /tmp hides nothing of a checkout that lives in /tmp).
    """
    from ..paths import REPO_ROOT

    dirs = sorted({str(REPO_ROOT), os.path.realpath(sys.prefix)}, key=len)
    return [d for i, d in enumerate(dirs) if not any(d.startswith(p.rstrip("/") + "/") for p in dirs[:i])]
