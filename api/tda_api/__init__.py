"""The TDA Platform REST facade (FastAPI): TDAJobs and TDAStreams over HTTP, with Kubernetes RBAC."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
