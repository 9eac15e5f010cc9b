"""The local platform's object store: moto's standalone server, a real S3-protocol endpoint on loopback.

`tda-dev up` starts it (component "object-store"), creates bucket `tda` and applies Secret
`s3-creds` (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_DEFAULT_REGION) in the
default namespace, so a TDAJob with `credentialsSecret: s3-creds` reads s3://tda/... for real.
Pods run as local processes, so the loopback endpoint is reachable from them. The store keeps its
objects in memory: they are gone after `tda-dev down`.

    python -m tda_dev.objectstore seed              upload the datasets the examples/ refer to
    python -m tda_dev.objectstore secret -n NS      the credentials Secret in another namespace
    python -m tda_dev.objectstore env               shell exports for the aws CLI / boto3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import paths
from .net import LOOPBACK, free_port

if TYPE_CHECKING:
    from .platform import Context

BUCKET = "tda"
SECRET_NAME = "s3-creds"
REGION = "us-east-1"
# The local store checks no signatures; fixed credentials keep the Secret stable across restarts.
ACCESS_KEY_ID = "tda-local"
SECRET_ACCESS_KEY = "tda-local-secret"  # noqa: S105 -- a throw-away development store
COMPONENT = "object-store"


# --------------------------------------------------------------------------- server


def server_argv(port: int, host: str = LOOPBACK) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]


def endpoint(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


def is_serving(url: str) -> bool:
    """S3 ListBuckets (GET /) answers 200 once the server is up."""
    try:
        with urllib.request.urlopen(url + "/", timeout=2) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


@contextlib.contextmanager
def running_server(port: int | None = None, log: Path | None = None, timeout: float = 30.0) -> Iterator[str]:
    """A moto server for the duration of the block (tests); yields its endpoint URL."""
    port = port or free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 -- closed below
    proc = subprocess.Popen(server_argv(port), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    url = endpoint(port)
    try:
        deadline = time.monotonic() + timeout
        while not is_serving(url):
            if proc.poll() is not None:
                raise RuntimeError(f"the object store exited with {proc.returncode} during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the object store did not answer on {url} within {timeout:.0f}s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]


# --------------------------------------------------------------------------- clients and credentials


def credentials_env(url: str) -> dict[str, str]:
    """What a process (or the Secret) needs to talk to the store with boto3 or the aws CLI."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_ENDPOINT_URL": url,
        "AWS_DEFAULT_REGION": REGION,
    }


def client(url: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}),
    )


def ensure_bucket(url: str, bucket: str = BUCKET) -> None:
    s3 = client(url)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=bucket)


def bucket_exists(url: str, bucket: str = BUCKET) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client(url).head_bucket(Bucket=bucket)
        return True
    except (ClientError, BotoCoreError):
        return False


def credentials_secret(url: str, namespace: str, name: str = SECRET_NAME) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "tda-dev"}},
        "type": "Opaque",
        "stringData": credentials_env(url),
    }


def _core_api(kubeconfig: Path | str):
    from kubernetes import client as k8s
    from kubernetes import config

    return k8s.CoreV1Api(config.new_client_from_config(str(kubeconfig)))


def worker_secret_grant(namespace: str, secret: str = SECRET_NAME,
                        service_account: str = "tda-worker") -> list[dict[str, Any]]:
    """Role + RoleBinding letting the namespace's TDA workers read this one Secret (what an admin grants)."""
    meta = {"name": f"tda-worker-read-{secret}", "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "tda-dev"}}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
         "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": meta["name"]},
         "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}]},
    ]


def apply_credentials_secret(kubeconfig: Path | str, namespace: str, url: str | None = None,
                             name: str = SECRET_NAME, grant_worker: bool = True) -> None:
    """Server-side apply Secret `name` with the store's credentials in `namespace`, readable by its workers."""
    from kubernetes import client as k8s
    from kubernetes import config

    url = url or endpoint_url()
    api = config.new_client_from_config(str(kubeconfig))
    apply: dict[str, Any] = {"field_manager": "tda-dev", "force": True, "_content_type": "application/apply-patch+yaml"}
    k8s.CoreV1Api(api).patch_namespaced_secret(name, namespace, credentials_secret(url, namespace, name), **apply)
    if grant_worker:
        role, binding = worker_secret_grant(namespace, name)
        rbac = k8s.RbacAuthorizationV1Api(api)
        rbac.patch_namespaced_role(role["metadata"]["name"], namespace, role, **apply)
        rbac.patch_namespaced_role_binding(binding["metadata"]["name"], namespace, binding, **apply)


def secret_exists(kubeconfig: Path | str, namespace: str = "default", name: str = SECRET_NAME) -> bool:
    from kubernetes.client.exceptions import ApiException

    try:
        _core_api(kubeconfig).read_namespaced_secret(name, namespace)
        return True
    except (ApiException, OSError):
        return False


def endpoint_url() -> str:
    """The running local store: $TDA_S3_ENDPOINT, else the port `tda-dev up` recorded."""
    if os.environ.get("TDA_S3_ENDPOINT"):
        return os.environ["TDA_S3_ENDPOINT"]
    try:
        state = json.loads(paths.state_file().read_text())
        return endpoint(int(state["ports"][COMPONENT]))
    except (OSError, ValueError, KeyError) as exc:
        raise RuntimeError("no object store is running: start the platform with `tda-dev up`") from exc


# --------------------------------------------------------------------------- platform components
# platform.COMPONENTS runs these: the server ("object-store"), then a step that creates bucket
# `tda` and Secret `s3-creds` in `default` ("object-store-bucket").


def argv(ctx: Context) -> list[str]:
    return server_argv(ctx.port(COMPONENT))


def serving(ctx: Context) -> bool:
    return is_serving(endpoint(ctx.port(COMPONENT)))


def setup_bucket(ctx: Context) -> None:
    url = endpoint(ctx.port(COMPONENT))
    ensure_bucket(url)
    apply_credentials_secret(ctx.kubeconfig, "default", url)


def bucket_ready(ctx: Context) -> bool:
    # The store is in memory: after it restarts the bucket is gone and this step runs again.
    return bucket_exists(endpoint(ctx.port(COMPONENT))) and secret_exists(ctx.kubeconfig)


# --------------------------------------------------------------------------- example data


def torus(n: int, rng: Any, noise: float = 0.05, major: float = 2.0, minor: float = 0.7) -> Any:
    import numpy as np

    u, v = rng.uniform(0, 2 * np.pi, (2, n))
    pts = np.stack([(major + minor * np.cos(v)) * np.cos(u), (major + minor * np.cos(v)) * np.sin(u),
                    minor * np.sin(v)], axis=1)
    return pts + rng.normal(0, noise, pts.shape)


def circles(n: int, rng: Any, k: int) -> Any:
    """k noisy circles of different radii: k long-lived H1 classes."""
    import numpy as np

    pts = []
    for i in range(k):
        t = rng.uniform(0, 2 * np.pi, n // k)
        r = 1.0 + i
        pts.append(np.stack([r * np.cos(t) + 4 * i, r * np.sin(t)], axis=1))
    out = np.concatenate(pts)
    return out + rng.normal(0, 0.05, out.shape)


def blobs_image(size: int, rng: Any) -> Any:
    """Smoothed noise: a 2-D image with many local minima and maxima (cubical H0 and H1)."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(rng.normal(size=(size, size)), sigma=3.0)


def seed_examples(url: str, n_clouds: int = 50) -> list[str]:
    """Upload what examples/datasets-s3.yaml and examples/image-cubical.yaml read."""
    import numpy as np

    s3 = client(url)
    ensure_bucket(url)
    rng = np.random.default_rng(7)
    keys = []

    def put(key: str, arr: Any) -> None:
        buf = io.BytesIO()
        np.save(buf, np.asarray(arr, dtype=np.float64))
        s3.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())
        keys.append(f"s3://{BUCKET}/{key}")

    for i in range(n_clouds):
        put(f"clouds/cloud-{i:03d}.npy", circles(120, rng, 1 + i % 3))
    put("images/blobs.npy", blobs_image(128, rng))
    return keys


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tda_dev.objectstore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    seed = sub.add_parser("seed", help="upload the example datasets to s3://tda/")
    seed.add_argument("--clouds", type=int, default=50)
    sec = sub.add_parser("secret", help="apply Secret s3-creds in a namespace")
    sec.add_argument("-n", "--namespace", default="default")
    sec.add_argument("--kubeconfig", default=None)
    sub.add_parser("env", help="print shell exports for the store's credentials")
    serve = sub.add_parser("serve", help="run a store in the foreground (outside the platform)")
    serve.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)

    if args.command == "serve":
        return subprocess.call(server_argv(args.port))
    try:
        url = endpoint_url()
    except RuntimeError as exc:
        print(f"tda-dev: {exc}", file=sys.stderr)
        return 1
    if args.command == "seed":
        keys = seed_examples(url, args.clouds)
        print(f"uploaded {len(keys)} objects to {url}: {keys[0]} ... {keys[-1]}")
    elif args.command == "secret":
        apply_credentials_secret(args.kubeconfig or paths.kubeconfig_path(), args.namespace, url)
        print(f"secret/{SECRET_NAME} applied in namespace {args.namespace}")
    else:
        for key, value in credentials_env(url).items():
            print(f"export {key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
