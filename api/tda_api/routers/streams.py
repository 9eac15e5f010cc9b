"""/v1/namespaces/{namespace}/streams: TDAStreams, their live status and latest windows."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from tda_contract import TDASTREAM_KIND, TDASTREAM_PLURAL
from tda_operator.models import StreamPhase, TDAStream

from .. import links
from ..deps import CallerDep, Facade, FacadeDep, Name, Namespace
from ..events import status_stream
from ..latest import bootstrap_servers, latest_by_key, read_tail
from ..resources import Resources
from ..schemas import LatestWindows, StreamCreate, StreamList

router = APIRouter(prefix="/v1/namespaces/{namespace}/streams", tags=["streams"])
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
#: A stream has no final phase: a Failed one recovers when its spec is fixed. Its events end when it is deleted.
FINAL_STREAM_PHASES: frozenset[str] = frozenset()
assert StreamPhase.failed.value not in FINAL_STREAM_PHASES


def streams(facade: Facade) -> Resources:
    return Resources(facade, TDASTREAM_PLURAL, TDASTREAM_KIND)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TDAStream, summary="Create a TDAStream",
             responses=links.created("get_stream", "delete_stream"))
async def create_stream(namespace: Namespace, body: StreamCreate, facade: FacadeDep,
                        caller: CallerDep) -> JSONResponse:
    created = await streams(facade).create(caller, namespace, body)
    return JSONResponse(created, status_code=status.HTTP_201_CREATED)


@router.get("", response_model=StreamList, summary="List the TDAStreams of a namespace")
async def list_streams(namespace: Namespace, facade: FacadeDep, caller: CallerDep) -> JSONResponse:
    return JSONResponse({"items": await streams(facade).list(caller, namespace)})


@router.get("/{name}", response_model=TDAStream, summary="Read a TDAStream (spec and status)")
async def get_stream(namespace: Namespace, name: Name, facade: FacadeDep, caller: CallerDep) -> Response:
    return Response(await streams(facade).get_json(caller, namespace, name), media_type="application/json")


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a TDAStream and all it owns")
async def delete_stream(namespace: Namespace, name: Name, facade: FacadeDep, caller: CallerDep) -> Response:
    await streams(facade).delete(caller, namespace, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/events", response_class=StreamingResponse, summary="Live phase (Server-Sent Events)",
            responses={200: {"content": {"text/event-stream": {}}}})
async def stream_events(namespace: Namespace, name: Name, facade: FacadeDep, caller: CallerDep) -> StreamingResponse:
    await streams(facade).get(caller, namespace, name)
    events = status_stream(facade.cache.stores[TDASTREAM_PLURAL], facade.reviewer, caller, namespace, name,
                           FINAL_STREAM_PHASES, facade.settings.sse_heartbeat_seconds)
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/{name}/latest", response_model=LatestWindows, summary="Latest window features per key")
async def latest_windows(namespace: Namespace, name: Name, facade: FacadeDep, caller: CallerDep) -> JSONResponse:
    stream = await streams(facade).get(caller, namespace, name)  # only a caller who may read the stream
    kafka = (stream.get("spec") or {}).get("kafka") or {}
    topic = str((kafka.get("output") or {}).get("topic") or "")
    bootstrap = bootstrap_servers(kafka, facade.settings.kafka_bootstrap)
    values = await run_in_threadpool(read_tail, bootstrap, topic, facade.settings.latest_window_seconds)
    return JSONResponse({"name": name, "topic": topic, "keys": latest_by_key(values)})
