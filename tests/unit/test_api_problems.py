"""Problem details: the API server's refusals mapped without echoing what the caller sent."""

from __future__ import annotations

import json

import pytest
from tda_api.problems import Problem, from_kube_status, scrub

pytestmark = pytest.mark.unit

SECRET = "s3cr3t-value-from-the-caller"


def kube_status(code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None,
                kind: str = "tdajobs") -> bytes:
    return json.dumps({
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
        "message": message, "details": {"name": "x", "group": "tda.io", "kind": kind, "causes": causes or []},
    }).encode()


def test_cel_refusal_keeps_the_api_servers_message_and_names_the_field():
    message = 'spec.input: Invalid value: "object": spec.input: set exactly one of inline, url or datasets'
    body = kube_status(422, "Invalid", f'TDAJob.tda.io "{SECRET}" is invalid: {message}',
                       [{"reason": "FieldValueInvalid", "message": 'Invalid value: "object": spec.input: set exactly '
                         "one of inline, url or datasets", "field": "spec.input"}])
    problem = from_kube_status(422, body)
    doc = problem.body()
    assert doc["status"] == 422
    assert doc["field"] == "spec.input"
    assert "set exactly one of inline, url or datasets" in doc["detail"]
    assert SECRET not in json.dumps(doc)
    assert set(doc) >= {"type", "title", "status", "detail"}


def test_quoted_values_are_taken_out_of_api_server_messages():
    cause = {"reason": "FieldValueInvalid", "field": "spec.input.url",
             "message": f'Invalid value: "ftp://{SECRET}": spec.input.url in body should match \'^(s3|https?|file)://.+\''}
    problem = from_kube_status(422, kube_status(422, "Invalid", "x", [cause]))
    assert SECRET not in json.dumps(problem.body())
    assert "should match" in problem.detail
    assert problem.field == "spec.input.url"


def test_scrub_handles_escaped_quotes_and_numbers():
    assert SECRET not in scrub(f'Invalid value: "a \\"{SECRET}\\" b": must be short')
    assert scrub("Invalid value: 7: must be at most 4") == "must be at most 4"


@pytest.mark.parametrize(("code", "reason", "expected"), [
    (404, "NotFound", 404), (409, "AlreadyExists", 409), (409, "Conflict", 409), (403, "Forbidden", 403),
    (500, "InternalError", 502), (503, "ServiceUnavailable", 503), (429, "TooManyRequests", 503),
])
def test_status_codes_map_to_problems_without_the_message(code, reason, expected):
    problem = from_kube_status(code, kube_status(code, reason, f'tdajobs.tda.io "{SECRET}" {reason}'))
    assert problem.status == expected
    assert SECRET not in json.dumps(problem.body())


def test_not_found_names_the_kind():
    assert "TDAJob" in from_kube_status(404, kube_status(404, "NotFound", "gone")).detail
    assert "ConfigMap" in from_kube_status(404, kube_status(404, "NotFound", "gone", kind="configmaps")).detail


def test_a_body_that_is_not_a_status_still_maps():
    assert from_kube_status(404, b"<html>").status == 404
    assert from_kube_status(502, b"[1]").status == 502


def test_problem_document_shape():
    doc = Problem(401, "no token").body()
    assert doc == {"type": "https://tda.io/problems/unauthenticated", "title": "Unauthorized", "status": 401,
                   "detail": "no token"}


@pytest.mark.parametrize("problem", [
    Problem(503, "the Kubernetes API server could not be reached; try again"),
    from_kube_status(503, b"{}"),
    from_kube_status(429, b"{}"),
])
def test_every_503_tells_when_to_retry(problem):
    assert problem.status == 503 and problem.headers == {"Retry-After": "1"}
