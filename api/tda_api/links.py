"""OpenAPI links: from a create's response to what can be done with the created object.

Clients (and stateful API testing) follow them: the new object's name is in the response
body, its namespace in the request path.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute


def operation_id(route: APIRoute) -> str:
    """Operation ids are the handlers' names (create_job, get_job, ...): stable and readable."""
    return route.name


def created(*operations: str) -> dict[int | str, dict[str, Any]]:
    parameters = {"namespace": "$request.path.namespace", "name": "$response.body#/metadata/name"}
    links = {op: {"operationId": op, "parameters": parameters} for op in operations}
    return {201: {"description": "Created", "links": links}}
