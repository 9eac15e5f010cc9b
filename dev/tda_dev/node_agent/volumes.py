"""A pod's volumes as host directories, bind-mounted into its containers by the exec helper.

emptyDir lives in the pod's directory, hostPath and claims are host paths,
and configMap, secret, downwardAPI and projected volumes (service-account
tokens included, refreshed as kubelet does) are files written there.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api import Kube, parse_time
from .env import MountError, expand, field_value, resource_value, source_object

if TYPE_CHECKING:
    from .pods import PodWorker

log = logging.getLogger("tda-node-agent")

Files = dict[str, tuple[bytes, int]]  # path in the volume -> (content, mode)


def write_file(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, mode & 0o777)
    os.replace(tmp, path)


def materialize(w: PodWorker, v: dict[str, Any]) -> Path:
    """The host path of volume `v` of the worker's pod, made or (re)written as needed."""
    name = v["name"]
    vdir = w.dir / "volumes" / name
    api = w.agent.api
    if "emptyDir" in v:
        vdir.mkdir(parents=True, exist_ok=True)
        return vdir
    if "hostPath" in v:
        hp = v["hostPath"]
        path, kind = Path(hp["path"]), hp.get("type") or ""
        if kind == "DirectoryOrCreate":
            path.mkdir(parents=True, exist_ok=True)
        elif kind == "FileOrCreate":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
        elif kind in ("Directory", "File") and not path.exists():
            raise MountError(f"hostPath {path} does not exist")
        return path
    if "persistentVolumeClaim" in v:
        claim = v["persistentVolumeClaim"]["claimName"]
        pvc = api.get(f"/api/v1/namespaces/{w.ns}/persistentvolumeclaims/{claim}")
        pv_name = pvc.get("spec", {}).get("volumeName")
        if pv_name:
            pv = api.get(f"/api/v1/persistentvolumes/{pv_name}")["spec"]
            local = (pv.get("hostPath") or pv.get("local") or {}).get("path")
            if local:
                Path(local).mkdir(parents=True, exist_ok=True)
                return Path(local)
        path = w.agent.state_dir / "pvc" / w.ns / claim
        path.mkdir(parents=True, exist_ok=True)
        return path
    files: Files = {}
    if "configMap" in v:
        src = v["configMap"]
        files = _keyed_files(api, w.ns, "configmaps", src, src.get("name"), src.get("defaultMode", 0o644))
    elif "secret" in v:
        src = v["secret"]
        files = _keyed_files(api, w.ns, "secrets", src, src.get("secretName"), src.get("defaultMode", 0o644))
    elif "downwardAPI" in v:
        src = v["downwardAPI"]
        files = _downward_files(w, src.get("items") or [], src.get("defaultMode", 0o644))
    elif "projected" in v:
        files = _projected_files(w, v["projected"])
    else:
        kinds = sorted(k for k in v if k != "name")
        raise MountError(f"volume {name}: type {kinds} is not supported by the local node agent")
    vdir.mkdir(parents=True, exist_ok=True)
    for rel, (data, mode) in files.items():
        write_file(vdir / rel, data, mode)
    return vdir


def _keyed_files(api: Kube, ns: str, kind: str, src: dict[str, Any], obj_name: str | None,
                 default_mode: int) -> Files:
    obj = source_object(api, ns, kind, obj_name, bool(src.get("optional")))
    if obj is None:
        return {}
    data = {k: (base64.b64decode(val) if kind == "secrets" else val.encode())
            for k, val in (obj.get("data") or {}).items()}
    data.update({k: base64.b64decode(val) for k, val in (obj.get("binaryData") or {}).items()})
    items = src.get("items")
    if not items:
        return {k: (val, default_mode) for k, val in data.items()}
    out = {}
    for item in items:
        if item["key"] not in data:
            if src.get("optional"):
                continue
            raise MountError(f'key "{item["key"]}" not found in {kind[:-1]} "{obj_name}"')
        out[item["path"]] = (data[item["key"]], item.get("mode", default_mode))
    return out


def _downward_files(w: PodWorker, items: list[dict[str, Any]], default_mode: int) -> Files:
    out = {}
    for item in items:
        if "fieldRef" in item:
            value = field_value(w.pod, item["fieldRef"]["fieldPath"])
        else:
            ref = item["resourceFieldRef"]
            value = resource_value(w.agent, w.pod, ref.get("containerName"), ref)
        out[item["path"]] = (value.encode(), item.get("mode", default_mode))
    return out


def _projected_files(w: PodWorker, proj: dict[str, Any]) -> Files:
    mode = proj.get("defaultMode", 0o644)
    api = w.agent.api
    out: Files = {}
    for source in proj.get("sources") or []:
        if "configMap" in source:
            out.update(_keyed_files(api, w.ns, "configmaps", source["configMap"], source["configMap"].get("name"),
                                    mode))
        elif "secret" in source:
            out.update(_keyed_files(api, w.ns, "secrets", source["secret"], source["secret"].get("name"), mode))
        elif "downwardAPI" in source:
            out.update(_downward_files(w, source["downwardAPI"].get("items") or [], mode))
        elif "serviceAccountToken" in source:
            out[source["serviceAccountToken"]["path"]] = (_token(w, source["serviceAccountToken"]), mode)
    return out


def _token(w: PodWorker, src: dict[str, Any]) -> bytes:
    """A bound token for the pod's service account, via the TokenRequest API (as kubelet does)."""
    sa = w.spec.get("serviceAccountName") or "default"
    expiration = int(src.get("expirationSeconds") or 3600)
    spec: dict[str, Any] = {
        "expirationSeconds": expiration,
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": w.name, "uid": w.uid},
    }
    if src.get("audience"):
        spec["audiences"] = [src["audience"]]
    resp = w.agent.api.request(
        "POST", f"/api/v1/namespaces/{w.ns}/serviceaccounts/{sa}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
    expires = parse_time(resp["status"].get("expirationTimestamp")) or time.time() + expiration
    # kubelet refreshes at 80% of the token's life
    w.token_refresh = min(w.token_refresh, time.time() + 0.8 * (expires - time.time()))
    return resp["status"]["token"].encode()


def refresh_tokens(w: PodWorker) -> None:
    """Rewrite the projected volumes that hold a service-account token once it is due."""
    if time.time() < w.token_refresh:
        return
    w.token_refresh = math.inf
    for v in w.spec.get("volumes") or []:
        if "projected" in v and any("serviceAccountToken" in s for s in v["projected"].get("sources") or []):
            try:
                materialize(w, v)
            except Exception as e:  # noqa: BLE001 - keep the old token, try again soon
                log.warning("pod %s/%s: token refresh failed: %s", w.ns, w.name, e)
                w.token_refresh = time.time() + 30


def container_mounts(volumes: dict[str, Path], c: dict[str, Any], env: dict[str, str]) -> list[dict[str, Any]]:
    """The exec helper's bind mounts for container `c`: its volumeMounts, subPaths resolved."""
    mounts = []
    for vm in c.get("volumeMounts") or []:
        source = volumes.get(vm["name"])
        if source is None:
            raise MountError(f"volumeMount {vm['name']!r} refers to no volume of the pod")
        sub = vm.get("subPath") or (expand(vm["subPathExpr"], env) if vm.get("subPathExpr") else "")
        if sub:
            if ".." in Path(sub).parts or sub.startswith("/"):
                raise MountError(f"subPath {sub!r} must be a relative path inside the volume")
            source = source / sub
            if not source.exists():
                source.mkdir(parents=True, exist_ok=True)
        mounts.append({"source": str(source), "target": vm["mountPath"], "readOnly": bool(vm.get("readOnly"))})
    return mounts
