"""Dynamic provisioning for StorageClass `tda-local`: a host directory per claim.

The cluster has no storage driver; claims of this class (the default unless
the cluster has one) get a hostPath PersistentVolume under <state-dir>/pvc,
removed with its data once released.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from pathlib import Path

from .api import ApiError, Kube

log = logging.getLogger("tda-node-agent")

STORAGE_CLASS = "tda-local"
PROVISIONER = "tda.io/node-agent"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def ensure_storage_class(api: Kube) -> None:
    """StorageClass `tda-local`, the default unless the cluster already has one."""
    classes = api.get("/apis/storage.k8s.io/v1/storageclasses")["items"]
    if any(c["metadata"]["name"] == STORAGE_CLASS for c in classes):
        return
    has_default = any((c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
                      for c in classes)
    with contextlib.suppress(ApiError):
        api.request("POST", "/apis/storage.k8s.io/v1/storageclasses", body={
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS,
                         "annotations": {DEFAULT_CLASS_ANNOTATION: "false" if has_default else "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"})


def provision(api: Kube, state_dir: Path) -> None:
    """A hostPath PV (a directory under state-dir/pvc) for every pending claim of our class."""
    for pvc in api.get("/api/v1/persistentvolumeclaims")["items"]:
        meta, spec = pvc["metadata"], pvc["spec"]
        if (pvc.get("status", {}).get("phase") != "Pending" or spec.get("volumeName")
                or spec.get("storageClassName") != STORAGE_CLASS):
            continue
        path = state_dir / "pvc" / meta["namespace"] / meta["name"]
        with contextlib.suppress(ApiError):  # 409: made on an earlier pass, the PV controller binds it
            api.request("POST", "/api/v1/persistentvolumes", body={
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": f"pvc-{meta['uid']}",
                             "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
                "spec": {
                    "capacity": {"storage": (spec.get("resources") or {}).get("requests", {}).get(
                        "storage", "1Gi")},
                    "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": STORAGE_CLASS,
                    "volumeMode": spec.get("volumeMode", "Filesystem"),
                    "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                    "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                 "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}}})
            log.info("provisioned %s for claim %s/%s", path, meta["namespace"], meta["name"])
    for pv in api.get("/api/v1/persistentvolumes")["items"]:
        ours = (pv["metadata"].get("annotations") or {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER
        if ours and pv.get("status", {}).get("phase") == "Released" \
                and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
            shutil.rmtree(pv["spec"]["hostPath"]["path"], ignore_errors=True)
            with contextlib.suppress(ApiError):
                api.request("DELETE", f"/api/v1/persistentvolumes/{pv['metadata']['name']}")


def storage_loop(api: Kube, state_dir: Path, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            ensure_storage_class(api)
            provision(api, state_dir)
        except Exception as e:  # noqa: BLE001 - try again on the next pass
            log.warning("volume provisioning: %s", e)
        stop.wait(2.0)
