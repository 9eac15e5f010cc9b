"""Where the local platform keeps its binaries, state and logs."""

from __future__ import annotations

import os
from pathlib import Path

# dev/tda_dev/paths.py -> the repository root
REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / "dev" / "tools"
CRDS_DIR = REPO_ROOT / "crds"


def _xdg(var: str, default: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / default


def cache_root() -> Path:
    """Built binaries live here, shared by every checkout of the project."""
    return _xdg("XDG_CACHE_HOME", ".cache") / "tda-platform"


def state_dir() -> Path:
    """One running platform's certificates, kubeconfig, logs and pids."""
    value = os.environ.get("TDA_STATE_DIR")
    if value:
        return Path(value)
    return _xdg("XDG_STATE_HOME", ".local/state") / "tda-platform"


def kubeconfig_path() -> Path:
    return state_dir() / "kubeconfig"


def state_file() -> Path:
    return state_dir() / "state.json"
