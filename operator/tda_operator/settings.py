"""Operator settings, read from the environment.

``TDA_OPERATOR_WORKER_IMAGE``, ``_IMAGE_PULL_POLICY``, ``_WORKER_SERVICE_ACCOUNT``,
``_INFEASIBLE_CAP_BYTES``, ``_DEFAULT_CPU_REQUEST``, ``_DEFAULT_MEMORY_REQUEST``,
``_MAX_DOWNLOAD_BYTES``, ``_ALLOW_HTTP``, ``_MAX_REDIRECTS``, ``_RESYNC_SECONDS``,
``_FLINK_IMAGE``, ``_FLINK_PYTHON_JAR``,
``_NAMESPACES`` (comma-separated; empty: all) and ``_METRICS_PORT`` map onto :class:`Settings`.
``TDA_OPERATOR_WORKERS`` is the number of reconcile threads (default 64; see
reconcile_workers). Several replicas elect a leader: ``tda-operator run --leader-election``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import tda_contract

FIELD_MANAGER = tda_contract.FIELD_MANAGER_OPERATOR


def reconcile_workers() -> int:
    """Reconcile threads (``TDA_OPERATOR_WORKERS``). Reconciles mostly wait on the API server:
    their number bounds the throughput (threads / API latency): 16 kept up with 7 new TDAJobs/s
    on a busy 2-core node, 64 with 20."""
    return int(os.environ.get("TDA_OPERATOR_WORKERS", "64"))


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    #: Image of the worker pods (the local node agent runs the command, not the image).
    worker_image: str = "ghcr.io/tda-platform/worker:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    #: Service account of the worker pods (see builders.build_worker_rbac for its rights).
    worker_service_account: str = "tda-worker"
    #: TDAJobs whose estimated memory per dataset exceeds this fail with reason Infeasible.
    infeasible_cap_bytes: int = 8 * 1024**3
    #: Largest dataset a worker downloads or reads (bytes).
    max_download_bytes: int = 1024**3
    #: Whether http:// dataset URLs are fetched at all (https:// always is).
    allow_http: bool = False
    max_redirects: int = 5
    #: Every TDAJob is reconciled at least this often, events or not.
    resync_seconds: float = 60.0
    #: Image of a TDAStream's Flink job (Flink + PyFlink + tda_core + tda_stream).
    flink_image: str = "ghcr.io/tda-platform/flink:0.1.0"
    #: The PyFlink driver jar inside that image.
    flink_python_jar: str = "local:///opt/flink/opt/flink-python-1.20.3.jar"
    #: Requests when nothing can be estimated (url/datasets inputs).
    default_cpu_request: str = "100m"
    default_memory_request: str = "256Mi"
    #: Interpreter and numpy footprint added to the core's estimate.
    memory_base_bytes: int = 192 * 1024**2
    memory_headroom: float = 1.5
    namespaces: tuple[str, ...] = field(default_factory=tuple)  # empty: all namespaces
    metrics_port: int = 8080

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        defaults = cls()
        return cls(
            worker_image=env("TDA_OPERATOR_WORKER_IMAGE", defaults.worker_image),
            image_pull_policy=env("TDA_OPERATOR_IMAGE_PULL_POLICY", defaults.image_pull_policy),
            worker_service_account=env("TDA_OPERATOR_WORKER_SERVICE_ACCOUNT", defaults.worker_service_account),
            infeasible_cap_bytes=int(env("TDA_OPERATOR_INFEASIBLE_CAP_BYTES", defaults.infeasible_cap_bytes)),
            max_download_bytes=int(env("TDA_OPERATOR_MAX_DOWNLOAD_BYTES", defaults.max_download_bytes)),
            allow_http=env("TDA_OPERATOR_ALLOW_HTTP", "false").lower() in ("1", "true", "yes"),
            max_redirects=int(env("TDA_OPERATOR_MAX_REDIRECTS", defaults.max_redirects)),
            resync_seconds=float(env("TDA_OPERATOR_RESYNC_SECONDS", defaults.resync_seconds)),
            flink_image=env("TDA_OPERATOR_FLINK_IMAGE", defaults.flink_image),
            flink_python_jar=env("TDA_OPERATOR_FLINK_PYTHON_JAR", defaults.flink_python_jar),
            default_cpu_request=env("TDA_OPERATOR_DEFAULT_CPU_REQUEST", defaults.default_cpu_request),
            default_memory_request=env("TDA_OPERATOR_DEFAULT_MEMORY_REQUEST", defaults.default_memory_request),
            namespaces=_env_list("TDA_OPERATOR_NAMESPACES"),
            metrics_port=int(env("TDA_OPERATOR_METRICS_PORT", defaults.metrics_port)),
        )
