"""The control-plane binaries: built once from the pinned Go modules, then cached.

The pins live in dev/tools/go.mod; the cache directory's name carries the
versions and a digest of go.mod/go.sum, so changing a pin builds afresh.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from .paths import TOOLS_DIR, cache_root

# binary name -> Go main package (module pinned in dev/tools/go.mod)
PACKAGES = {
    "etcd": "go.etcd.io/etcd/server/v3",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    "helm": "helm.sh/helm/v4/cmd/helm",
}
# What an envtest bundle (KUBEBUILDER_ASSETS) provides.
ENVTEST = ("etcd", "kube-apiserver", "kubectl")
_MODULES = {
    "kubernetes": "k8s.io/kubernetes",
    "etcd": "go.etcd.io/etcd/server/v3",
    "helm": "helm.sh/helm/v4",
}


class BinariesError(RuntimeError):
    pass


@cache
def versions() -> dict[str, str]:
    """The pinned release of each upstream project, read from go.mod."""
    text = (TOOLS_DIR / "go.mod").read_text()
    found = {}
    for name, module in _MODULES.items():
        m = re.search(rf"^\s*{re.escape(module)}\s+(v\S+)", text, re.M)
        if not m:
            raise BinariesError(f"{module} is not pinned in {TOOLS_DIR / 'go.mod'}")
        found[name] = m.group(1)
    return found


def versions_key() -> str:
    digest = hashlib.sha256()
    for f in ("go.mod", "go.sum"):
        digest.update((TOOLS_DIR / f).read_bytes())
    v = versions()
    return f"k8s-{v['kubernetes']}_etcd-{v['etcd']}_helm-{v['helm']}_{digest.hexdigest()[:8]}"


def bin_dir() -> Path:
    return cache_root() / versions_key() / "bin"


def _ldflags() -> str:
    """Stamp the real release into the binaries: clients (Helm too) check it."""
    v = versions()
    kube = v["kubernetes"]
    major, minor = kube.lstrip("v").split(".")[:2]
    stamp = {
        "gitVersion": kube,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    flags = ["-s", "-w"]
    # An -X for a package a binary does not link is ignored, so one set of
    # flags serves every binary.
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X={pkg}.{k}={val}" for k, val in stamp.items()]
    helm = "helm.sh/helm/v4/internal/version"
    flags += [f"-X={helm}.version={v['helm']}", f"-X={helm}.metadata=", f"-X={helm}.gitTreeState=clean"]
    return " ".join(flags)


def _exec_name(pkg: str) -> str:
    """The file name `go build -o DIR/` gives a main package."""
    parts = pkg.split("/")
    return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) else parts[-1]


def _envtest() -> dict[str, Path]:
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if not assets:
        return {}
    return {n: Path(assets) / n for n in ENVTEST if os.access(Path(assets) / n, os.X_OK)}


@contextmanager
def cache_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _build(names: list[str], target: Path) -> None:
    go = shutil.which("go")
    if go is None:
        raise BinariesError(
            f"Go is not installed and {target} lacks {', '.join(names)}.\n"
            f"Install Go >= 1.26 (the binaries are built from {TOOLS_DIR}), or set "
            "KUBEBUILDER_ASSETS to envtest binaries, or TDA_KUBECONFIG to an existing cluster."
        )
    target.mkdir(parents=True, exist_ok=True)
    log = target.parent / "build.log"
    print(
        f"tda-dev: building {', '.join(names)} with {go} (the first build takes a while) ...",
        file=sys.stderr, flush=True,
    )
    env = dict(os.environ, CGO_ENABLED="0")
    env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -mod=mod").strip()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, open(log, "w") as out:
        cmd = [go, "build", "-trimpath", f"-ldflags={_ldflags()}", "-o", tmp + "/",
               *(PACKAGES[n] for n in names)]
        out.write(" ".join(cmd) + "\n")
        out.flush()
        result = subprocess.run(cmd, cwd=TOOLS_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            tail = log.read_text().splitlines()[-30:]
            raise BinariesError(f"go build failed (full log: {log}):\n" + "\n".join(tail))
        # Renamed into place one by one: a reader sees whole files or none.
        for n in names:
            os.replace(Path(tmp) / _exec_name(PACKAGES[n]), target / n)
    print(f"tda-dev: built in {time.monotonic() - started:.0f}s into {target}", file=sys.stderr, flush=True)


def ensure_binaries() -> dict[str, Path]:
    """Every binary the platform runs, building (once, under a lock) what is missing."""
    found = _envtest()
    target = bin_dir()

    def missing() -> list[str]:
        return [n for n in PACKAGES if n not in found and not (target / n).is_file()]

    if missing():
        with cache_lock(target.parent / "build.lock"):
            # Another process may have built them while we waited.
            if todo := missing():
                _build(todo, target)
    return {n: found.get(n, target / n) for n in PACKAGES}


def main() -> None:
    for name, path in ensure_binaries().items():
        print(f"{name}\t{path}")


if __name__ == "__main__":
    main()
