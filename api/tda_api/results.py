"""A TDAJob's results as the facade serves them: read from the result ConfigMaps the
worker pods wrote (``<name>-result-<i>``, see :mod:`tda_contract`), one dataset at a time.

JSON follows the worker's dataset document (deaths at infinity are ``null``); NPZ carries
the same arrays as float64, exact, with ``inf`` for essential classes.
"""

from __future__ import annotations

import base64
import binascii
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from tda_contract import RESULT_JSON_KEY, RESULT_NPZ_KEY
from tda_worker.results import diagrams_from_json, read_shard_json_gz, to_npz_bytes

from .problems import Problem


class ResultReader(Protocol):
    """One TDAJob's results wherever they live (ConfigMaps, object store). May block: call in a thread."""

    def document(self, name: str, dataset: str | None) -> dict[str, Any]: ...

    def diagrams(self, dataset: str | None) -> tuple[str, list[np.ndarray]]: ...

    def npz(self, dataset: str | None) -> bytes: ...


@dataclass
class ShardResults:
    """The results one pod index recorded: dataset documents and exact arrays."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    npz: bytes = b""


def shard_from_config_map(config_map: dict[str, Any]) -> ShardResults:
    """Decode one result ConfigMap; one without results (an index with no datasets) is empty."""
    data = config_map.get("binaryData") or {}
    if RESULT_JSON_KEY not in data:
        return ShardResults()
    try:
        document = read_shard_json_gz(base64.b64decode(data[RESULT_JSON_KEY]))
        npz = base64.b64decode(data.get(RESULT_NPZ_KEY) or "")
    except (ValueError, OSError, binascii.Error):
        raise Problem(502, "a result ConfigMap of this TDAJob is not readable") from None
    return ShardResults(list(document.get("datasets") or []), list(document.get("failed") or []), npz)


@dataclass
class JobResults:
    """All shards of one TDAJob, by dataset id."""

    shards: list[ShardResults]

    @property
    def dataset_ids(self) -> list[str]:
        return sorted(str(doc.get("id")) for shard in self.shards for doc in shard.documents)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [entry for shard in self.shards for entry in shard.failed]

    def locate(self, dataset: str | None) -> tuple[ShardResults, dict[str, Any]]:
        """The shard and document of ``dataset`` (default: the first id in order)."""
        ids = self.dataset_ids
        if not ids:
            raise Problem(404, "this TDAJob has no successful dataset results")
        wanted = ids[0] if dataset is None else dataset
        for shard in self.shards:
            for doc in shard.documents:
                if str(doc.get("id")) == wanted:
                    return shard, doc
        raise Problem(404, "this TDAJob has no result for that dataset; see 'datasets' in its result", field="dataset")

    def document(self, name: str, dataset: str | None) -> dict[str, Any]:
        """The JSON result of one dataset: diagrams per dimension (null deaths), features, summary."""
        _, doc = self.locate(dataset)
        return {
            "name": name,
            "dataset": str(doc.get("id")),
            "datasets": self.dataset_ids,
            "failed": [str(entry.get("id")) for entry in self.failed],
            "kind": doc.get("kind"),
            "points": doc.get("points"),
            "summary": doc.get("summary") or {},
            "diagrams": doc.get("diagrams") or [],
            "features": doc.get("features") or {},
            "featureParameters": doc.get("featureParameters") or {},
        }

    def diagrams(self, dataset: str | None) -> tuple[str, list[np.ndarray]]:
        _, doc = self.locate(dataset)
        return str(doc.get("id")), diagrams_from_json(doc.get("diagrams") or [])

    def npz(self, dataset: str | None) -> bytes:
        """One dataset's members of its shard's archive (diagram_<q>, <feature>_<q>), renamed without the id."""
        shard, doc = self.locate(dataset)
        prefix = f"{doc.get('id')}/"
        try:
            with np.load(io.BytesIO(shard.npz), allow_pickle=False) as archive:
                arrays = {key[len(prefix):]: archive[key] for key in archive.files if key.startswith(prefix)}
        except (ValueError, OSError, zipfile.BadZipFile):
            raise Problem(502, "a result ConfigMap of this TDAJob is not readable") from None
        return to_npz_bytes(arrays)
