"""Leader election decisions: who may write the Lease, judged by the local clock."""

from __future__ import annotations

import pytest
from tda_operator import leader
from tda_operator.leader import LeaderElector, Timing, claim

pytestmark = pytest.mark.unit
TIMING = Timing(lease_seconds=15, renew_seconds=5, retry_seconds=2)


def lease(holder: str, version: str = "1", transitions: int = 0) -> dict:
    return {"metadata": {"name": "tda-operator", "namespace": "tda-system", "resourceVersion": version},
            "spec": {"holderIdentity": holder, "leaseTransitions": transitions, "leaseDurationSeconds": 15}}


def test_a_missing_or_released_lease_is_taken():
    assert claim(None, "a", expired=True, timing=TIMING)["spec"]["holderIdentity"] == "a"
    assert claim(lease(""), "a", expired=False, timing=TIMING)["spec"]["holderIdentity"] == "a"


def test_a_live_leaders_lease_is_left_alone_and_an_expired_one_taken_with_a_transition():
    assert claim(lease("b"), "a", expired=False, timing=TIMING) is None
    taken = claim(lease("b", transitions=2), "a", expired=True, timing=TIMING)
    assert taken["spec"]["holderIdentity"] == "a" and taken["spec"]["leaseTransitions"] == 3
    assert taken["metadata"]["resourceVersion"] == "1"  # written over the version read: one winner


def test_the_holder_renews_without_a_transition():
    renewed = claim(lease("a", transitions=1), "a", expired=False, timing=TIMING)
    assert renewed["spec"]["leaseTransitions"] == 1 and renewed["spec"]["renewTime"]


class FakeLeases:
    """The API server's optimistic concurrency for one Lease."""

    def __init__(self) -> None:
        self.lease: dict | None = None
        self.version = 0

    def get(self, *_: object) -> dict | None:
        return None if self.lease is None else {**self.lease, "metadata": {**self.lease["metadata"],
                                                                            "resourceVersion": str(self.version)}}

    def write(self, obj: dict, create: bool) -> dict:
        from kubernetes.client.exceptions import ApiException

        if create != (self.lease is None) or (not create and obj["metadata"]["resourceVersion"] != str(self.version)):
            raise ApiException(status=409)
        self.version += 1
        self.lease = obj
        return obj


def test_expiry_is_judged_by_the_candidates_clock_and_exactly_one_replica_leads(monkeypatch):
    leases = FakeLeases()
    monkeypatch.setattr(leader.kube, "get", leases.get)
    monkeypatch.setattr(leader.kube, "write_lease", leases.write)
    now = [0.0]
    a = LeaderElector("tda-system", "tda-operator", "a", TIMING, clock=lambda: now[0])
    b = LeaderElector("tda-system", "tda-operator", "b", TIMING, clock=lambda: now[0])
    assert a.try_hold() and not b.try_hold()
    for _ in range(5):  # a renews every 5 s: b never sees it expire
        now[0] += 5
        assert a.try_hold() and not b.try_hold()
    now[0] += 14  # a stops renewing (killed); b saw the last change 14 s ago
    assert not b.try_hold()
    now[0] += 1
    assert b.try_hold() and leases.lease["spec"]["holderIdentity"] == "b"
    assert not a.try_hold()  # the old leader, were it back, finds the Lease taken

