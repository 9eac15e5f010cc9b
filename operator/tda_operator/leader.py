"""Leader election with a coordination.k8s.io Lease: of several operator replicas, one works.

The others wait (live, serving /healthz) until the Lease has gone unrenewed for its whole
duration, then take it. Expiry is judged by the local clock from when this replica last saw
the Lease change, never from the timestamps in it, so clock skew between nodes cannot make a
live leader look expired. A leader that cannot renew for a whole lease duration exits: its
pod is restarted and waits as a candidate, so two replicas never reconcile at once for
longer than a renewal round trip.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.client.exceptions import ApiException

from . import kube

log = logging.getLogger("tda_operator.leader")
LEASE_API_VERSION = "coordination.k8s.io/v1"


@dataclass(frozen=True)
class Timing:
    #: A Lease unrenewed this long is free; takeover after a leader's crash takes about this.
    lease_seconds: float = 15.0
    #: How often the leader renews (well inside lease_seconds).
    renew_seconds: float = 5.0
    #: How often a candidate looks again.
    retry_seconds: float = 2.0


def _now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claim(lease: dict[str, Any] | None, me: str, expired: bool, timing: Timing) -> dict[str, Any] | None:
    """The Lease this replica should write to hold leadership, or None when another holds it.

    Pure: ``expired`` says whether the current holder's record has gone unchanged for a whole
    lease duration by this replica's clock.
    """
    spec = dict((lease or {}).get("spec") or {})
    holder = spec.get("holderIdentity") or ""
    if holder and holder != me and not expired:
        return None
    now = _now_text()
    if holder != me:
        spec["acquireTime"] = now
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if holder else 0)
    spec.update(holderIdentity=me, leaseDurationSeconds=int(timing.lease_seconds), renewTime=now)
    metadata = dict((lease or {}).get("metadata") or {})
    return {"apiVersion": LEASE_API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}


class LeaderElector:
    def __init__(self, namespace: str, name: str, identity: str, timing: Timing = Timing(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.namespace, self.name, self.identity, self.timing = namespace, name, identity, timing
        self._clock = clock
        self._seen: tuple[str, float] | None = None  # (resourceVersion, when first seen)
        self._renewed_at = 0.0

    def _expired(self, lease: dict[str, Any] | None) -> bool:
        if lease is None:
            return True
        version = str(lease["metadata"].get("resourceVersion") or "")
        if self._seen is None or self._seen[0] != version:
            self._seen = (version, self._clock())
        return self._clock() - self._seen[1] >= self.timing.lease_seconds

    def try_hold(self) -> bool:
        """One round: take or renew the Lease if this replica may; True when it holds it now."""
        lease = kube.get(LEASE_API_VERSION, "Lease", self.namespace, self.name)
        wanted = claim(lease, self.identity, self._expired(lease), self.timing)
        if wanted is None:
            return False
        wanted["metadata"].update(name=self.name, namespace=self.namespace)
        try:
            kube.write_lease(wanted, create=lease is None)
        except ApiException as error:
            if error.status in (409, 404):  # another replica wrote first: look again next round
                return False
            raise
        self._renewed_at = self._clock()
        return True

    def acquire(self) -> None:
        """Blocks until this replica leads."""
        log.info("waiting to lead (Lease %s/%s)", self.namespace, self.name)
        while True:
            try:
                if self.try_hold():
                    log.info("leading as %s", self.identity)
                    return
            except (ApiException, OSError) as error:
                log.warning("leader election: the API server did not answer (%s)", type(error).__name__)
            time.sleep(self.timing.retry_seconds)

    def keep(self, lost: Callable[[], None]) -> threading.Thread:
        """Renews in a daemon thread; calls ``lost`` once renewals failed for a whole lease duration."""

        def renew() -> None:
            while True:
                time.sleep(self.timing.renew_seconds)
                try:
                    if not self.try_hold():
                        log.error("leader election: another replica holds the Lease")
                        lost()
                        return
                except (ApiException, OSError) as error:
                    log.warning("leader election: renewal failed (%s)", type(error).__name__)
                if self._clock() - self._renewed_at >= self.timing.lease_seconds:
                    log.error("leader election: not renewed for %.0f s", self.timing.lease_seconds)
                    lost()
                    return

        thread = threading.Thread(target=renew, name="leader-election", daemon=True)
        thread.start()
        return thread


def identity() -> str:
    """This replica's name in the Lease: its pod name (HOSTNAME) and process."""
    return f"{os.environ.get('HOSTNAME') or 'tda-operator'}_{os.getpid()}"
