"""Sets up a container's filesystem inside its new mount namespace, then execs its command.

`unshare` runs this file as a plain script (`python -I exec_helper.py SPEC`),
outside any package and before the container's root exists, so it imports
the standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import socket
import sys
from pathlib import Path

# tda_dev.net.LOOPBACK; not imported, as this file runs on its own.
LOOPBACK = "127.0.0.1"

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
MNT_DETACH = 2
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)

    def enc(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _umount(target: str) -> None:
    ctypes.CDLL(None, use_errno=True).umount2(target.encode(), MNT_DETACH)


def _top_level_mounts(skip_under: str) -> list[str]:
    """Mount points directly on top of the root mount, except our scratch space."""
    entries = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        f = line.split()
        entries.append((f[0], f[1], f[4].encode().decode("unicode_escape")))
    root_ids = {mid for mid, _, mp in entries if mp == "/"}
    seen: list[str] = []
    for _, parent, mp in entries:
        if parent in root_ids and mp != "/" and not (mp + "/").startswith(skip_under + "/") and mp not in seen:
            seen.append(mp)
    return seen


def _build_root(scratch: str) -> str:
    """A copy-on-write view of the host root for one container; returns its path.

    Writes outside volumes land in a tmpfs that goes away with the namespace,
    so creating mount points never pollutes the host. /dev is a small tmpfs
    with the usual device nodes bound in (as container runtimes do), which
    gives /dev/termination-log somewhere to live.
    """
    _mount("tda-pod", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700")
    for d in ("upper", "work", "root"):
        os.mkdir(os.path.join(scratch, d), 0o755)
    root = os.path.join(scratch, "root")
    _mount("overlay", root, "overlay", 0,
           f"lowerdir=/,upperdir={scratch}/upper,workdir={scratch}/work")
    for mp in _top_level_mounts(scratch):
        if mp == "/dev" or mp.startswith("/dev/"):
            continue
        with contextlib.suppress(OSError):
            _mount(mp, root + mp, None, MS_BIND | MS_REC)
    dev = root + "/dev"
    _mount("tda-dev", dev, "tmpfs", MS_NOSUID, "mode=0755")
    for name in DEV_NODES:
        if os.path.exists("/dev/" + name):
            open(f"{dev}/{name}", "w").close()
            _mount("/dev/" + name, f"{dev}/{name}", None, MS_BIND)
    os.mkdir(dev + "/pts")
    with contextlib.suppress(OSError):
        _mount("/dev/pts", dev + "/pts", None, MS_BIND | MS_REC)
    os.symlink("pts/ptmx", dev + "/ptmx")
    os.mkdir(dev + "/shm")
    _mount("shm", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.symlink("/proc/self/fd", dev + "/fd")
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")
    return root


def exec_helper(spec_file: str) -> None:
    """Set up the container's filesystem in this (new) mount namespace, then exec its command."""
    with open(spec_file) as f:
        spec = json.load(f)
    os.unlink(spec_file)  # it holds the container's env, secrets included
    error = os.open(spec["error_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        root = _build_root(spec["scratch"])
        stage = root + "/.tda-mounts"
        os.mkdir(stage, 0o700)
        # Sources are bound into the new root before chroot: inside it, symlinked
        # paths (/var/run -> /run) resolve against the container's root, not the host's.
        # The node's software goes back over any volume mounted above it, as last mounts.
        targets = [m["target"].rstrip("/") + "/" for m in spec["mounts"]]
        software = [{"source": d, "target": d, "readOnly": True} for d in spec.get("software", [])
                    if any(d.startswith(t) for t in targets)]
        mounts = sorted(spec["mounts"], key=lambda m: m["target"].rstrip("/").count("/")) + software
        for i, m in enumerate(mounts):
            staged = f"{stage}/{i}"
            if os.path.isdir(m["source"]):
                os.mkdir(staged)
            else:
                open(staged, "w").close()
            _mount(m["source"], staged, None, MS_BIND | MS_REC)
        os.chroot(root)
        os.chdir("/")
        for i, m in enumerate(mounts):
            staged, target = f"/.tda-mounts/{i}", m["target"]
            if os.path.isdir(staged):
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
                if not os.path.exists(target):
                    open(target, "w").close()
            _mount(staged, target, None, MS_BIND | MS_REC)
            if m.get("readOnly"):
                _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
            _umount(staged)
            if os.path.isdir(staged):
                os.rmdir(staged)
            else:
                os.remove(staged)
        os.rmdir("/.tda-mounts")
        hostname = spec["hostname"]
        with contextlib.suppress(OSError):
            socket.sethostname(hostname)
            if not os.path.islink("/etc/hosts"):
                with open("/etc/hosts", "a") as f:
                    f.write(f"\n{LOOPBACK}\t{hostname}\n")
        if spec.get("readOnlyRoot"):
            _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        workdir = spec.get("workingDir") or "/"
        os.makedirs(workdir, exist_ok=True)
        os.chdir(workdir)
        argv = spec["argv"]
        env = spec["env"]
    except Exception as e:  # noqa: BLE001 - any set-up failure is the container's start error
        os.write(error, f"failed to set up the container: {e}".encode())
        os._exit(128)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as e:
        os.write(error, f'exec: "{argv[0]}": {e.strerror}'.encode())
        os._exit(128)


if __name__ == "__main__":
    exec_helper(sys.argv[1])
