"""A container's environment as kubelet builds it: $(VAR) expansion, field and resource references.

configMap and secret lookups that are not (yet) satisfiable raise MountError,
which keeps the container waiting instead of failing the pod.
"""

from __future__ import annotations

import base64
import math
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from ..net import LOOPBACK
from .api import ApiError, Kube

if TYPE_CHECKING:
    from .node import Agent


class MountError(Exception):
    """A volume or env source is not (yet) available; the container waits, as with kubelet."""


def parse_quantity(q: Any) -> float:
    from kubernetes.utils import parse_quantity as _parse

    return float(_parse(str(q)))


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: $$ escapes, unknown references stay as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2:end]
                    out.append(env.get(name, text[i:end + 1]))
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(pod: dict[str, Any], path: str) -> str:
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
        "status.hostIP": LOOPBACK,
        "status.hostIPs": LOOPBACK,
        "status.podIP": LOOPBACK,
        "status.podIPs": LOOPBACK,
    }
    if path in simple:
        return simple[path]
    m = _SUBSCRIPT.match(path)
    if m:
        return (meta.get(m.group(1)) or {}).get(m.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise ValueError(f"unsupported fieldRef {path!r}")


def resource_value(agent: Agent, pod: dict[str, Any], container: str | None, ref: dict[str, Any]) -> str:
    """resourceFieldRef as kubelet computes it: unset limits are the node's allocatable."""
    containers = pod["spec"]["containers"] + (pod["spec"].get("initContainers") or [])
    c = next((x for x in containers if x["name"] == container), pod["spec"]["containers"][0])
    kind, _, res = ref["resource"].partition(".")
    value = ((c.get("resources") or {}).get(kind) or {}).get(res)
    if value is None:
        value = agent.capacity().get(res, "0") if kind == "limits" else "0"
    divisor = parse_quantity(ref.get("divisor") or "1") or 1.0
    return str(math.ceil(parse_quantity(value) / divisor))


def source_object(api: Kube, ns: str, kind: str, name: str | None, optional: bool) -> dict[str, Any] | None:
    """A configMap or secret a container refers to; None if it is missing but optional."""
    try:
        return api.get(f"/api/v1/namespaces/{ns}/{kind}/{name}")
    except ApiError as e:
        if e.status == 404:
            if optional:
                return None
            raise MountError(f'{kind[:-1]} "{name}" not found') from None
        raise


def _object_data(api: Kube, ns: str, kind: str, name: str, optional: bool) -> dict[str, str] | None:
    obj = source_object(api, ns, kind, name, optional)
    if obj is None:
        return None
    data = obj.get("data") or {}
    if kind == "secrets":
        return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}
    return dict(data)


def base_env(pod: dict[str, Any], api_port: int) -> dict[str, str]:
    bindir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    port = str(api_port)
    return {
        "PATH": f"{bindir}:{path}",
        "HOME": "/root",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOSTNAME": (pod["spec"].get("hostname") or pod["metadata"]["name"])[:63],
        "KUBERNETES_SERVICE_HOST": LOOPBACK,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": f"tcp://{LOOPBACK}:{port}",
        f"KUBERNETES_PORT_{port}_TCP": f"tcp://{LOOPBACK}:{port}",
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": port,
        f"KUBERNETES_PORT_{port}_TCP_ADDR": LOOPBACK,
    }


def container_env(agent: Agent, pod: dict[str, Any], c: dict[str, Any]) -> dict[str, str]:
    ns = pod["metadata"]["namespace"]
    env = base_env(pod, agent.api_port)
    for src in c.get("envFrom") or []:
        prefix = src.get("prefix", "")
        kind, ref = ("configmaps", src["configMapRef"]) if "configMapRef" in src else ("secrets", src["secretRef"])
        data = _object_data(agent.api, ns, kind, ref["name"], bool(ref.get("optional")))
        if data is not None:
            env.update({prefix + k: v for k, v in data.items()})
    for item in c.get("env") or []:
        name = item["name"]
        if "valueFrom" not in item:
            env[name] = expand(item.get("value", ""), env)
            continue
        vf = item["valueFrom"]
        if "fieldRef" in vf:
            env[name] = field_value(pod, vf["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in vf:
            env[name] = resource_value(agent, pod, vf["resourceFieldRef"].get("containerName") or c["name"],
                                       vf["resourceFieldRef"])
        elif "configMapKeyRef" in vf or "secretKeyRef" in vf:
            kind, ref = (("configmaps", vf["configMapKeyRef"]) if "configMapKeyRef" in vf
                         else ("secrets", vf["secretKeyRef"]))
            data = _object_data(agent.api, ns, kind, ref["name"], bool(ref.get("optional")))
            if data is not None and ref["key"] in data:
                env[name] = data[ref["key"]]
            elif not ref.get("optional"):
                raise MountError(f'couldn\'t find key {ref["key"]} in {kind[:-1]} {ns}/{ref["name"]}')
        else:
            raise ValueError(f"env {name}: unsupported valueFrom {sorted(vf)}")
    return env
