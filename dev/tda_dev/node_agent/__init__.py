"""The local node agent: a stand-in for kubelet + a container runtime.

It registers Node `tda-local`, keeps its Lease and Ready condition fresh, and
runs every pod bound to the node as local processes, so that everything else
(scheduler, Job controller, garbage collector, RBAC, admission) stays real:

    python -m tda_dev.node_agent --kubeconfig K --state-dir D \
        --api-server https://127.0.0.1:PORT --ca-file CA --node-name tda-local

Each container is its own process (own session, so it can be killed as a
group) in its own mount namespace. Its root is a copy-on-write overlay of the
host root, so that mount points that do not exist on the host (a volume's
mountPath, /var/run/secrets/kubernetes.io/serviceaccount, /dev/termination-log)
can be created without touching the host; volumes are host directories
bind-mounted into it. The image is not pulled: the pod's `command` + `args`
must be what the image would run, resolved on this machine (the agent's
interpreter's bin directory comes first on PATH, so `python3` and our console
scripts are the project's virtualenv).

Container output goes to <state-dir>/logs/<namespace>_<pod>_<container>.log
(restarts append), which `kubectl logs [-f]` reads through the kubelet-API
endpoint the agent serves. PersistentVolumeClaims of StorageClass `tda-local`
(made the default if the cluster has none) get a host directory under
<state-dir>/pvc/<namespace>/<claim>.

Startup, liveness and readiness probes run as kubelet runs them (exec inside
the container's namespace, httpGet/tcpSocket against 127.0.0.1).

Not emulated: images and their entrypoints, resource limits (no cgroups),
securityContext users (processes run as root), a pod network (pods share the
host's; podIP is 127.0.0.1; no Service routing or DNS), service-link env
vars, and `kubectl exec`/`port-forward`. Needs root and overlayfs.

The exec helper (exec_helper.py) is run by path as a plain script inside each
container's new mount namespace, so it imports the standard library only.
"""

from .env import expand, field_value
from .probes import ProbeState
from .sandbox import kill_pod_processes

__all__ = ["ProbeState", "expand", "field_value", "kill_pod_processes"]
