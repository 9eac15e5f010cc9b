"""Liveness, readiness and Prometheus metrics (no authentication: they reveal no user data)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import FacadeDep
from ..metrics import REGISTRY
from ..problems import Problem

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process serves requests")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The watch cache has listed every resource")
async def readyz(facade: FacadeDep) -> dict[str, str]:
    if not facade.cache.synced:
        raise Problem(503, "the cache of TDAJobs and TDAStreams is not filled yet")
    return {"status": "ready"}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
