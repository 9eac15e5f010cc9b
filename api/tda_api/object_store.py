"""Results a TDAJob wrote to ``spec.output.url`` on S3: ``<prefix><dataset id>.json`` and ``.npz``.

They are read with the keys of the job's ``spec.input.credentialsSecret``, and that Secret is
read as the caller (impersonated), so only a caller who may read the Secret gets the results;
the facade's own identity never touches it. Blocking (boto3): call these in a thread.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

import numpy as np
from tda_worker.results import diagrams_from_json
from tda_worker.sources import S3Credentials

from .problems import Problem

MAX_OBJECT_BYTES = 64 * 2**20
MAX_LISTED = 100_000


def secret_values(secret: dict[str, Any]) -> dict[str, str]:
    values = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(value).decode()
        except (ValueError, UnicodeDecodeError, binascii.Error):
            continue  # a key that is not text is no credential we use
    return values


def split_prefix(url: str) -> tuple[str, str]:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise Problem(409, "this TDAJob writes its results to a volume (status.resultRef.url); read them there")
    base = parsed.path.lstrip("/")
    return parsed.netloc, (base.rstrip("/") + "/" if base else "")


@dataclass
class ObjectStoreResults:
    """The same reads as :class:`tda_api.results.JobResults`, against the job's S3 prefix."""

    client: Any
    bucket: str
    prefix: str

    @classmethod
    def open(cls, url: str, credentials: dict[str, str]) -> ObjectStoreResults:
        bucket, prefix = split_prefix(url)
        if not (credentials.get("AWS_ACCESS_KEY_ID") and credentials.get("AWS_SECRET_ACCESS_KEY")):
            # Without keys boto3 would fall back to the facade's own environment: never for user data.
            raise Problem(409, "spec.input.credentialsSecret has no AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; "
                               "the results cannot be read with it")
        return cls(S3Credentials(credentials).client(), bucket, prefix)

    @property
    def dataset_ids(self) -> list[str]:
        ids: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for item in page.get("Contents") or ():
                    key = str(item.get("Key", ""))[len(self.prefix):]
                    if key.endswith(".json") and "/" not in key:
                        ids.append(key[: -len(".json")])
                if len(ids) >= MAX_LISTED:
                    break
        except Exception:  # botocore raises many kinds; none of their text reaches the caller
            raise Problem(502, "the TDAJob's result prefix could not be listed with its credentials Secret") from None
        return sorted(ids)

    def _get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            if int(response.get("ContentLength") or 0) > MAX_OBJECT_BYTES:
                raise Problem(413, "this result is too large to serve here; read it from the object store")
            return bytes(response["Body"].read(MAX_OBJECT_BYTES + 1))[:MAX_OBJECT_BYTES]
        except Problem:
            raise
        except Exception:
            raise Problem(502, "a result object could not be read with the TDAJob's credentials Secret") from None

    def _locate(self, dataset: str | None) -> tuple[str, list[str]]:
        ids = self.dataset_ids
        if not ids:
            raise Problem(404, "this TDAJob has no successful dataset results")
        wanted = ids[0] if dataset is None else dataset
        if wanted not in ids:
            raise Problem(404, "this TDAJob has no result for that dataset; see 'datasets' in its result",
                          field="dataset")
        return wanted, ids

    def _document(self, dataset_id: str) -> dict[str, Any]:
        try:
            doc = json.loads(self._get(dataset_id + ".json"))
        except ValueError:
            raise Problem(502, "a result object of this TDAJob is not readable") from None
        if not isinstance(doc, dict):
            raise Problem(502, "a result object of this TDAJob is not readable")
        return doc

    def document(self, name: str, dataset: str | None) -> dict[str, Any]:
        dataset_id, ids = self._locate(dataset)
        doc = self._document(dataset_id)
        return {
            "name": name, "dataset": dataset_id, "datasets": ids, "failed": [],
            "kind": doc.get("kind"), "points": doc.get("points"), "summary": doc.get("summary") or {},
            "diagrams": doc.get("diagrams") or [], "features": doc.get("features") or {},
            "featureParameters": doc.get("featureParameters") or {},
        }

    def diagrams(self, dataset: str | None) -> tuple[str, list[np.ndarray]]:
        dataset_id, _ = self._locate(dataset)
        return dataset_id, diagrams_from_json(self._document(dataset_id).get("diagrams") or [])

    def npz(self, dataset: str | None) -> bytes:
        dataset_id, _ = self._locate(dataset)
        return self._get(dataset_id + ".npz")
