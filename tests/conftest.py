"""Shared fixtures: the local platform (started once per session, or reused)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def platform() -> Iterator[object]:
    """A real Kubernetes control plane: `TDA_KUBECONFIG`, a running `tda-dev up`, or a fresh one.

    A platform this fixture started is stopped at the end of the session; one that
    was already running is left as it was.
    """
    from tda_dev import platform as local

    info = local.current()
    started = info is None
    if started:
        info = local.up()
    yield info
    if started and not os.environ.get("TDA_KEEP_PLATFORM"):
        local.down()


@pytest.fixture(scope="session")
def api_client(platform):
    from kubernetes import config

    client = config.new_client_from_config(str(platform.kubeconfig))
    yield client
    client.close()


@pytest.fixture
def namespace(api_client) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards (cascading to everything in it)."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)
