"""The operator SIGKILLed at random moments while 200 TDAJobs are created, run and finish.

Every TDAJob must reach Succeeded with exactly one child Job and its one dataset counted once
(no lost TDAJob, no duplicate Job, no double-counted progress): the operator keeps no state
of its own that a crash could lose, and its writes are idempotent.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from chaos_report import record
from operator_control import kill_operator, operator_ready
from support import wait_for

pytestmark = pytest.mark.chaos

GROUP, VERSION, PLURAL = "tda.io", "v1alpha1", "tdajobs"
TDAJOBS = 200
KILLS = 4


def tdajob(name: str, seed: int) -> dict:
    rng = random.Random(seed)
    points = [[round(rng.uniform(-1, 1), 3) for _ in range(2)] for _ in range(12)]
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TDAJob", "metadata": {"name": name},
            "spec": {"input": {"inline": {"points": points}}, "computation": {"maxDimension": 1}}}


@pytest.mark.timeout(2400)  # crashes back off as with kubelet: 10 s, doubling
def test_operator_killed_at_random_moments_loses_and_duplicates_nothing(platform, api_client, namespace):
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    custom = client.CustomObjectsApi(api_client)
    batch = client.BatchV1Api(api_client)
    names = [f"chaos-{i:03d}" for i in range(TDAJOBS)]

    def create_all() -> None:
        for i, name in enumerate(names):
            for _ in range(30):  # the API server stays up; a create may still time out under load
                try:
                    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, tdajob(name, i))
                    break
                except ApiException as error:
                    if error.status == 409:
                        break
                    time.sleep(1)
            time.sleep(0.1)

    creator = threading.Thread(target=create_all, daemon=True)
    creator.start()
    rng = random.Random(7)
    for _ in range(KILLS):  # while TDAJobs are being created, run and finished
        time.sleep(rng.uniform(2, 12))
        kill_operator(platform)
        time.sleep(rng.uniform(0, 3))
        operator_ready(platform)
    creator.join()

    def phases() -> dict[str, str]:
        items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        return {o["metadata"]["name"]: (o.get("status") or {}).get("phase", "") for o in items}

    wait_for("every TDAJob to finish", lambda: all(p in ("Succeeded", "Failed") for p in phases().values())
             and len(phases()) == TDAJOBS, timeout=1800, every=5)
    items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    assert sorted(o["metadata"]["name"] for o in items) == names, "no TDAJob lost"
    wrong = [(o["metadata"]["name"], o["status"]["phase"], o["status"].get("reason"), o["status"].get("progress"))
             for o in items if o["status"]["phase"] != "Succeeded"
             or o["status"]["progress"]["succeeded"] != 1 or o["status"]["progress"]["total"] != 1]
    assert not wrong, f"not Succeeded with exactly one dataset counted: {wrong[:10]}"
    owners = [ref.uid for job in batch.list_namespaced_job(namespace).items
              for ref in (job.metadata.owner_references or []) if ref.kind == "TDAJob"]
    duplicates = len(owners) - len(set(owners))
    assert duplicates == 0 and len(set(owners)) == TDAJOBS
    record("tdajobs", TDAJOBS)
    record("lost", 0)
    record("duplicates", duplicates)
