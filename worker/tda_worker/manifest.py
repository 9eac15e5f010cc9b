"""The run's dataset list, fixed once: the first pod to list the prefix writes it.

A prefix may change while a run goes on (objects added or removed), so pods that each
listed it could disagree on who takes which dataset. Instead the list is written once,
as ConfigMaps owned by the TDAJob: chunks named after the list's digest (identical
listings share them), then the head ``<tdajob>-manifest``, created last and only once,
which decides. Every other pod and every retry reads the head's chunks.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tda_contract import (
    API_VERSION,
    FIELD_MANAGER_WORKER,
    LABEL_INDEX,
    LABEL_MANAGED_BY,
    LABEL_ROLE,
    LABEL_TDAJOB,
    MANIFEST_CHUNK_KEY,
    MANIFEST_HEAD_KEY,
    MANIFEST_VERSION,
    ROLE_MANIFEST,
    ROLE_MANIFEST_CHUNK,
    TDAJOB_KIND,
    manifest_chunk_name,
    manifest_config_map_name,
)

from .cluster import Cluster
from .formats import TransientError

#: Raw JSON bytes per chunk: gzip only shrinks it, and base64 of it stays below 1 MiB.
CHUNK_BYTES = 700_000


@dataclass(frozen=True)
class RunIdentity:
    """The TDAJob a pod works for."""

    namespace: str
    name: str
    uid: str

    def owner(self) -> dict[str, Any]:
        return {"apiVersion": API_VERSION, "kind": TDAJOB_KIND, "name": self.name, "uid": self.uid,
                "controller": True}

    def metadata(self, name: str, role: str, index: int | None = None) -> dict[str, Any]:
        labels = {LABEL_TDAJOB: self.name, LABEL_ROLE: role, LABEL_MANAGED_BY: FIELD_MANAGER_WORKER}
        if index is not None:
            labels[LABEL_INDEX] = str(index)
        return {"name": name, "namespace": self.namespace, "labels": labels, "ownerReferences": [self.owner()]}

    def owns(self, obj: dict[str, Any]) -> bool:
        refs = (obj.get("metadata") or {}).get("ownerReferences") or []
        return any(ref.get("uid") == self.uid for ref in refs)


def digest_of(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def chunked(keys: list[str], limit: int = CHUNK_BYTES) -> list[list[str]]:
    """Consecutive runs of keys whose JSON encoding stays within ``limit`` bytes."""
    chunks: list[list[str]] = [[]]
    size = 2
    for key in keys:
        cost = len(json.dumps(key)) + 1
        if chunks[-1] and size + cost > limit:
            chunks.append([])
            size = 2
        chunks[-1].append(key)
        size += cost
    return chunks


def fixed_dataset_keys(cluster: Cluster, run: RunIdentity, list_prefix: Callable[[], list[str]]) -> list[str]:
    """The run's dataset names: the manifest's if written, else this pod's listing, written first."""
    head_name = manifest_config_map_name(run.name)
    head = cluster.get_config_map(run.namespace, head_name)
    if head is None:
        keys = list_prefix()
        digest = digest_of(keys)
        chunks = chunked(keys)
        for position, chunk in enumerate(chunks):
            cluster.create_config_map({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": run.metadata(manifest_chunk_name(run.name, digest, position), ROLE_MANIFEST_CHUNK),
                "binaryData": {MANIFEST_CHUNK_KEY: base64.b64encode(
                    gzip.compress(json.dumps(chunk, separators=(",", ":")).encode(), mtime=0)).decode()},
            })
        document = {"v": MANIFEST_VERSION, "count": len(keys), "digest": digest, "chunks": len(chunks)}
        created = cluster.create_config_map({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": run.metadata(head_name, ROLE_MANIFEST),
            "data": {MANIFEST_HEAD_KEY: json.dumps(document, separators=(",", ":"))},
        })
        if created:
            return keys
        head = cluster.get_config_map(run.namespace, head_name)
        if head is None:
            raise TransientError("the run's manifest vanished while it was read; the index is retried")
    return read_manifest(cluster, run, head)


def read_manifest(cluster: Cluster, run: RunIdentity, head: dict[str, Any]) -> list[str]:
    if not run.owns(head):  # an earlier TDAJob of this name: the garbage collector takes it soon
        raise TransientError("a manifest of an earlier TDAJob of this name still exists; the index is retried")
    try:
        document = json.loads((head.get("data") or {})[MANIFEST_HEAD_KEY])
        digest, count, n_chunks = str(document["digest"]), int(document["count"]), int(document["chunks"])
    except (KeyError, TypeError, ValueError):
        raise TransientError("the run's manifest is unreadable; the index is retried") from None
    keys: list[str] = []
    for position in range(n_chunks):
        chunk = cluster.get_config_map(run.namespace, manifest_chunk_name(run.name, digest, position))
        if chunk is None or not run.owns(chunk):
            raise TransientError("a chunk of the run's manifest is missing; the index is retried")
        try:
            keys.extend(json.loads(gzip.decompress(base64.b64decode(chunk["binaryData"][MANIFEST_CHUNK_KEY]))))
        except (KeyError, TypeError, ValueError, OSError):
            raise TransientError("a chunk of the run's manifest is unreadable; the index is retried") from None
    if len(keys) != count or digest_of(keys) != digest:
        raise TransientError("the run's manifest does not match its digest; the index is retried")
    return keys
