"""/v1/namespaces/{namespace}/jobs: TDAJobs, their results, pictures and live status."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from tda_contract import TDAJOB_KIND, TDAJOB_PLURAL, result_config_map_name
from tda_operator.models import TERMINAL_PHASES, TDAJob

from .. import diagrams, links
from ..deps import CallerDep, Facade, FacadeDep, Name, Namespace
from ..events import status_stream
from ..kube import Caller, config_map_path, secret_path
from ..object_store import ObjectStoreResults, secret_values, split_prefix
from ..problems import Problem, from_kube_status
from ..resources import Resources, call, read_json
from ..results import JobResults, ResultReader, shard_from_config_map
from ..schemas import JobCreate, JobList, JobResult

router = APIRouter(prefix="/v1/namespaces/{namespace}/jobs", tags=["jobs"])
NPZ_TYPES = ("application/x-npz", "application/npz", "application/octet-stream")
Dataset = Annotated[str | None, Query(max_length=1024, description="Dataset id (default: the first in order).")]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def jobs(facade: Facade) -> Resources:
    return Resources(facade, TDAJOB_PLURAL, TDAJOB_KIND)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TDAJob, summary="Create a TDAJob",
             responses=links.created("get_job", "get_result", "get_diagram_svg", "delete_job"))
async def create_job(namespace: Namespace, body: JobCreate, facade: FacadeDep, caller: CallerDep) -> JSONResponse:
    created = await jobs(facade).create(caller, namespace, body)
    return JSONResponse(created, status_code=status.HTTP_201_CREATED)


@router.get("", response_model=JobList, summary="List the TDAJobs of a namespace")
async def list_jobs(namespace: Namespace, facade: FacadeDep, caller: CallerDep) -> JSONResponse:
    return JSONResponse({"items": await jobs(facade).list(caller, namespace)})


@router.get("/{name}", response_model=TDAJob, summary="Read a TDAJob (spec and status)")
async def get_job(namespace: Namespace, name: Name, facade: FacadeDep, caller: CallerDep) -> Response:
    return Response(await jobs(facade).get_json(caller, namespace, name), media_type="application/json")


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a TDAJob and all it owns")
async def delete_job(namespace: Namespace, name: Name, facade: FacadeDep, caller: CallerDep) -> Response:
    await jobs(facade).delete(caller, namespace, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{name}/result", response_model=JobResult, summary="One dataset's diagrams and features (JSON or NPZ)",
    responses={200: {"content": {"application/x-npz": {}}, "description": "JSON, or NPZ with Accept: application/x-npz"}},
)
async def get_result(namespace: Namespace, name: Name, facade: FacadeDep, caller: CallerDep,
                     dataset: Dataset = None, accept: Annotated[str | None, Header()] = None) -> Response:
    results = await load_results(facade, caller, namespace, name)
    if accept and any(kind in accept for kind in NPZ_TYPES):
        body = await run_in_threadpool(results.npz, dataset)
        return Response(body, media_type="application/x-npz",
                        headers={"Content-Disposition": f'attachment; filename="{name}.npz"'})
    return JSONResponse(await run_in_threadpool(results.document, name, dataset))


@router.get("/{name}/diagram.svg", response_class=Response, summary="Persistence diagram and barcode (SVG)",
            responses={200: {"content": {"image/svg+xml": {}}}})
async def get_diagram_svg(namespace: Namespace, name: Name, facade: FacadeDep, caller: CallerDep,
                          dataset: Dataset = None) -> Response:
    return await picture(facade, caller, namespace, name, dataset, "svg")


@router.get("/{name}/diagram.png", response_class=Response, summary="Persistence diagram and barcode (PNG)",
            responses={200: {"content": {"image/png": {}}}})
async def get_diagram_png(namespace: Namespace, name: Name, facade: FacadeDep, caller: CallerDep,
                          dataset: Dataset = None) -> Response:
    return await picture(facade, caller, namespace, name, dataset, "png")


@router.get("/{name}/events", response_class=StreamingResponse, summary="Live phase and progress (Server-Sent Events)",
            responses={200: {"content": {"text/event-stream": {}}}})
async def job_events(namespace: Namespace, name: Name, facade: FacadeDep, caller: CallerDep) -> StreamingResponse:
    await jobs(facade).get(caller, namespace, name)  # 403/404 before the stream starts
    stream = status_stream(facade.cache.stores[TDAJOB_PLURAL], facade.reviewer, caller, namespace, name,
                           TERMINAL_PHASES, facade.settings.sse_heartbeat_seconds)
    return StreamingResponse(stream, media_type="text/event-stream", headers=SSE_HEADERS)


async def picture(facade: Facade, caller: Caller, namespace: str, name: str, dataset: str | None,
                  fmt: str) -> Response:
    results = await load_results(facade, caller, namespace, name)
    dataset_id, dgms = await run_in_threadpool(results.diagrams, dataset)
    body = await run_in_threadpool(diagrams.render, dgms, fmt, f"{name} / {dataset_id}")
    return Response(body, media_type=diagrams.FORMATS[fmt])


async def load_results(facade: Facade, caller: Caller, namespace: str, name: str) -> ResultReader:
    """The finished TDAJob's results, read as the caller wherever they are."""
    job = await jobs(facade).get(caller, namespace, name)
    ref = (job.get("status") or {}).get("resultRef") or {}
    phase = (job.get("status") or {}).get("phase")
    if phase not in TERMINAL_PHASES or not ref:
        raise Problem(409, "the TDAJob has not finished; its results are not complete yet (see /events)")
    if ref.get("kind") == "ObjectStore":
        return await object_store_results(facade, caller, namespace, job, str(ref.get("url") or ""))
    return await config_map_results(facade, caller, namespace, name, int(ref.get("shards") or 0))


async def object_store_results(facade: Facade, caller: Caller, namespace: str, job: dict[str, Any],
                               url: str) -> ObjectStoreResults:
    """S3 results, with the job's credentials Secret read as the caller (RBAC on Secrets decides)."""
    split_prefix(url)  # 409 for a volume before anything is read
    secret_name = ((job.get("spec") or {}).get("input") or {}).get("credentialsSecret")
    if not secret_name:
        raise Problem(409, "this TDAJob's results are in object storage without spec.input.credentialsSecret; "
                           "read them there")
    secret = await read_json(facade, secret_path(namespace, str(secret_name)), caller)
    return await run_in_threadpool(ObjectStoreResults.open, url, secret_values(secret))


async def config_map_results(facade: Facade, caller: Caller, namespace: str, name: str, shards: int) -> JobResults:
    """Every result ConfigMap of the TDAJob, read as the caller (RBAC on ConfigMaps decides)."""
    names = [result_config_map_name(name, i) for i in range(shards)]
    found = await asyncio.gather(*(read_config_map(facade, caller, namespace, n) for n in names))
    return JobResults([shard_from_config_map(cm) for cm in found if cm is not None])


async def read_config_map(facade: Facade, caller: Caller, namespace: str, name: str) -> dict[str, Any] | None:
    response = await call(facade, "GET", config_map_path(namespace, name), caller)
    if response.status_code == 404:  # an index that recorded nothing (its pod never ran)
        return None
    if response.status_code != 200:
        raise from_kube_status(response.status_code, response.content)
    return response.json()  # type: ignore[no-any-return]
