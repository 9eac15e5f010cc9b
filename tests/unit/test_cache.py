"""The operator's cache: per-TDAJob observed state, filled by the watches, with totals kept summed."""

from __future__ import annotations

import copy
import json
import time

import pytest
import tda_contract as contract
from tda_operator.cache import Cache, slim_job
from tda_operator.status import IndexOutcome
from tda_operator_fixtures import (
    NAMESPACE,
    PREFIX,
    UID,
    config_map,
    job,
    manifest_config_map,
    outcome,
    pod,
    tdajob_body,
)

pytestmark = pytest.mark.unit
KEY = (NAMESPACE, "torus")
OTHER_UID = "uid-2"
RESULT = contract.ROLE_RESULT
MANIFEST = contract.ROLE_MANIFEST


@pytest.fixture
def cache() -> Cache:
    c = Cache()
    c.set_tdajob(KEY, tdajob_body(PREFIX, parallelism=4))
    return c


def totals_of(cache: Cache, uid: str = UID):
    run = cache.get(KEY)
    assert run is not None
    return run.totals.get(uid)


# ------------------------------------------------------------------ the TDAJob


def test_inline_points_are_counted_then_dropped():
    points = [[float(i), 0.0] for i in range(250)]
    body = tdajob_body({"inline": {"points": points}})
    before = copy.deepcopy(body)
    cache = Cache()
    cache.set_tdajob(KEY, body)
    run = cache.get(KEY)
    assert run.inline_points == 250
    assert run.tdajob.spec.input.inline.points == []
    assert body == before  # the watch's body is not touched


def test_non_inline_tdajob_has_no_inline_points(cache):
    run = cache.get(KEY)
    assert run.inline_points == 0 and run.tdajob.spec.input.datasets is not None


def test_resource_version_follows_the_watch(cache):
    assert cache.get(KEY).resource_version == "100"
    cache.set_tdajob(KEY, tdajob_body(PREFIX, resource_version="117"))
    assert cache.get(KEY).resource_version == "117"


def test_tdajob_keys_lists_only_known_tdajobs(cache):
    other = (NAMESPACE, "ring")
    cache.set_job(other, job())  # a Job whose TDAJob is not (yet) seen
    cache.set_tdajob(("ns2", "torus"), tdajob_body())
    assert sorted(cache.tdajob_keys()) == sorted([KEY, ("ns2", "torus")])
    cache.set_tdajob(KEY, None)
    assert cache.tdajob_keys() == [("ns2", "torus")]


def test_unknown_key():
    cache = Cache()
    assert cache.get(KEY) is None
    cache.set_tdajob(KEY, tdajob_body())
    cache.set_tdajob(KEY, None)
    assert cache.get(KEY) is None  # nothing left of it


# ------------------------------------------------------------------ the Job and the pods


def test_set_job_keeps_only_what_the_operator_reads(cache):
    body = job(completions=4, active=2, completed="0")
    body["spec"]["template"] = {"spec": {"containers": [{"name": "worker", "env": [{"name": "X", "value": "1"}]}]}}
    cache.set_job(KEY, body)
    kept = cache.get(KEY).job
    assert kept == slim_job(body)
    assert "template" not in kept["spec"]
    assert kept["spec"]["completions"] == 4 and kept["status"]["completedIndexes"] == "0"
    assert kept["metadata"]["uid"] == "job-uid"
    cache.set_job(KEY, None)
    assert cache.get(KEY).job is None


def test_set_pod_and_its_deletion(cache):
    cache.set_pod(KEY, pod(0, "Running", None), deleted=False)
    cache.set_pod(KEY, pod(1, "Failed", 3, outcome(1, errors=["InvalidInput: x"])), deleted=False)
    pods = cache.get(KEY).pods
    assert sorted(pods) == ["torus-0-abcde", "torus-1-abcde"]
    assert pods["torus-1-abcde"].first_error == "InvalidInput: x"
    cache.set_pod(KEY, pod(0, "Succeeded", 0), deleted=False)  # an update replaces
    assert cache.get(KEY).pods["torus-0-abcde"].phase == "Succeeded"
    cache.set_pod(KEY, pod(0), deleted=True)
    assert sorted(cache.get(KEY).pods) == ["torus-1-abcde"]


# ------------------------------------------------------------------ records


def test_records_are_added_replaced_and_removed(cache):
    cache.set_record(KEY, UID, RESULT, config_map(0, outcome(0, succeeded=2, maxPersistence=[0.5])), deleted=False)
    cache.set_record(KEY, UID, RESULT, config_map(1, outcome(1, succeeded=1, maxPersistence=[4.0])), deleted=False)
    t = totals_of(cache)
    assert t.succeeded == 3 and t.max_persistence[0] == 4.0 and sorted(t.outcomes) == [0, 1]

    # the same record seen again (a resync, a MODIFIED event) is not counted twice
    cache.set_record(KEY, UID, RESULT, config_map(1, outcome(1, succeeded=1, maxPersistence=[4.0])), deleted=False)
    assert totals_of(cache).succeeded == 3

    # an edited record replaces the old one
    cache.set_record(KEY, UID, RESULT, config_map(1, outcome(1, succeeded=0, failed=1, maxPersistence=[0.1])),
                     deleted=False)
    t = totals_of(cache)
    assert (t.succeeded, t.failed) == (2, 1) and t.max_persistence[0] == 0.5

    cache.set_record(KEY, UID, RESULT, config_map(0, outcome(0, succeeded=2)), deleted=True)
    t = totals_of(cache)
    assert sorted(t.outcomes) == [1] and (t.succeeded, t.failed) == (0, 1)


def test_a_record_that_is_not_one_changes_nothing(cache):
    cache.set_record(KEY, UID, RESULT, config_map(0), deleted=False)
    for text in ("garbage", '{"v": 9, "index": 0}', ""):
        cache.set_record(KEY, UID, RESULT, config_map(0, text), deleted=False)
        cache.set_record(KEY, UID, RESULT, config_map(0, text), deleted=True)
    cache.set_record(KEY, UID, RESULT, config_map(0, annotations={}), deleted=False)
    assert sorted(totals_of(cache).outcomes) == [0] and totals_of(cache).succeeded == 1


def test_records_are_kept_per_owner_uid(cache):
    cache.set_record(KEY, UID, RESULT, config_map(0), deleted=False)
    # a lingering record of an earlier TDAJob of the same name
    cache.set_record(KEY, OTHER_UID, RESULT, config_map(1, owner_uid=OTHER_UID), deleted=False)
    cache.set_record(KEY, OTHER_UID, RESULT, config_map(2, owner_uid=OTHER_UID), deleted=False)
    run = cache.get(KEY)
    assert set(run.totals) == {UID}  # the snapshot holds the current TDAJob's records only
    assert sorted(run.totals[UID].outcomes) == [0]


def test_a_recreated_tdajob_starts_from_nothing(cache):
    cache.set_record(KEY, UID, RESULT, config_map(0), deleted=False)
    cache.set_record(KEY, UID, MANIFEST, manifest_config_map(10), deleted=False)
    cache.set_tdajob(KEY, None)
    cache.set_tdajob(KEY, tdajob_body(PREFIX, uid=OTHER_UID, resource_version="200"))
    run = cache.get(KEY)
    assert run.tdajob.metadata.uid == OTHER_UID
    assert run.totals[OTHER_UID].outcomes == {} and run.totals[OTHER_UID].succeeded == 0
    assert OTHER_UID not in run.manifest_count
    # the old run's records keep arriving (or leaving) until the garbage collector is done
    cache.set_record(KEY, UID, RESULT, config_map(1), deleted=False)
    cache.set_record(KEY, UID, RESULT, config_map(0), deleted=True)
    assert cache.get(KEY).totals[OTHER_UID].outcomes == {}


def test_a_recreated_tdajob_whose_deletion_was_missed_starts_from_nothing(cache):
    cache.set_record(KEY, UID, RESULT, config_map(0), deleted=False)
    cache.set_tdajob(KEY, tdajob_body(PREFIX, uid=OTHER_UID))  # no DELETED event in between
    assert cache.get(KEY).totals[OTHER_UID].succeeded == 0


def test_records_seen_before_their_tdajob_are_kept():
    cache = Cache()
    cache.set_record(KEY, UID, RESULT, config_map(0), deleted=False)
    cache.set_record(KEY, UID, RESULT, config_map(3), deleted=False)
    cache.set_tdajob(KEY, tdajob_body(PREFIX))
    assert sorted(totals_of(cache).outcomes) == [0, 3]


def test_manifest_head_count(cache):
    cache.set_record(KEY, UID, MANIFEST, manifest_config_map(12345), deleted=False)
    assert cache.get(KEY).manifest_count[UID] == 12345
    cache.set_record(KEY, OTHER_UID, MANIFEST, manifest_config_map(7, owner_uid=OTHER_UID), deleted=False)
    assert cache.get(KEY).manifest_count[UID] == 12345  # another run's manifest is another run's
    cache.set_record(KEY, UID, MANIFEST, manifest_config_map(12345), deleted=True)
    assert UID not in cache.get(KEY).manifest_count


@pytest.mark.parametrize("data", [{}, {contract.MANIFEST_HEAD_KEY: "not json"},
                                  {contract.MANIFEST_HEAD_KEY: "[]"},
                                  {contract.MANIFEST_HEAD_KEY: json.dumps({"v": 1})},
                                  {contract.MANIFEST_HEAD_KEY: json.dumps({"count": -1})},
                                  {contract.MANIFEST_HEAD_KEY: json.dumps({"count": "12"})}])
def test_unreadable_manifest_head_has_no_count(cache, data):
    cache.set_record(KEY, UID, MANIFEST, manifest_config_map(3), deleted=False)
    broken = manifest_config_map(3)
    broken["data"] = data
    cache.set_record(KEY, UID, MANIFEST, broken, deleted=False)
    assert UID not in cache.get(KEY).manifest_count
    assert totals_of(cache).outcomes == {}  # a manifest is no outcome record


# ------------------------------------------------------------------ our own status writes


def written(resource_version: str, phase: str) -> dict:
    return {"metadata": {"name": "torus", "namespace": NAMESPACE, "resourceVersion": resource_version},
            "status": {"phase": phase, "reason": phase}}


def test_note_status_moves_forward_only(cache):
    cache.note_status(KEY, written("105", "Running"))
    run = cache.get(KEY)
    assert run.resource_version == "105" and run.tdajob.status.phase == "Running"

    cache.note_status(KEY, written("103", "Failed"))  # an older write's result, arriving late
    cache.note_status(KEY, written("105", "Succeeded"))  # not newer either
    cache.note_status(KEY, written("", "Succeeded"))
    cache.note_status(KEY, {"status": {"phase": "Succeeded"}})
    run = cache.get(KEY)
    assert run.resource_version == "105" and run.tdajob.status.phase == "Running"

    cache.note_status(KEY, written("1000", "Succeeded"))  # compared as numbers, not strings
    assert cache.get(KEY).tdajob.status.phase == "Succeeded"
    assert cache.get(KEY).resource_version == "1000"


def test_note_status_of_an_unknown_or_deleted_tdajob_is_ignored(cache):
    cache.note_status((NAMESPACE, "ghost"), written("900", "Running"))
    assert cache.get((NAMESPACE, "ghost")) is None
    cache.set_job(KEY, job())
    cache.set_tdajob(KEY, None)
    cache.note_status(KEY, written("900", "Running"))
    assert cache.get(KEY).tdajob is None


def test_the_watch_overrides_a_noted_status(cache):
    cache.note_status(KEY, written("105", "Running"))
    cache.set_tdajob(KEY, tdajob_body(PREFIX, resource_version="106", status={"phase": "Succeeded"}))
    assert cache.get(KEY).tdajob.status.phase == "Succeeded"


# ------------------------------------------------------------------ snapshots


def test_get_returns_a_copy(cache):
    cache.set_pod(KEY, pod(0, "Running", None), deleted=False)
    cache.set_record(KEY, UID, RESULT, config_map(0, outcome(0, succeeded=2, intervalCounts=[3, 1])), deleted=False)
    cache.set_record(KEY, UID, MANIFEST, manifest_config_map(8), deleted=False)

    snapshot = cache.get(KEY)
    snapshot.pods.clear()
    snapshot.manifest_count[UID] = 999
    t = snapshot.totals[UID]
    t.add(IndexOutcome(index=5, succeeded=10, interval_counts=(100,)))
    t.interval_counts[1] = 77
    t.max_persistence.append(3.0)
    t.outcomes.clear()
    snapshot.totals.clear()

    fresh = cache.get(KEY)
    assert sorted(fresh.pods) == ["torus-0-abcde"]
    assert fresh.manifest_count[UID] == 8
    kept = fresh.totals[UID]
    assert sorted(kept.outcomes) == [0] and kept.succeeded == 2
    assert kept.interval_counts == [3, 1] and kept.max_persistence == [0.5, 0.25]


def test_get_snapshots_are_independent_of_later_events(cache):
    cache.set_record(KEY, UID, RESULT, config_map(0), deleted=False)
    snapshot = cache.get(KEY)
    cache.set_record(KEY, UID, RESULT, config_map(1), deleted=False)
    cache.set_pod(KEY, pod(1, "Running", None), deleted=False)
    assert sorted(snapshot.totals[UID].outcomes) == [0] and snapshot.totals[UID].succeeded == 1
    assert snapshot.pods == {}


def test_a_snapshot_keeps_its_status_and_resource_version_together(cache):
    snapshot = cache.get(KEY)
    cache.note_status(KEY, written("105", "Running"))
    assert snapshot.resource_version == "100"
    assert snapshot.tdajob.status.phase is None  # the status of version 100


# ------------------------------------------------------------------ forgetting


def test_a_deleted_tdajob_is_forgotten_once_its_job_and_pods_are_gone(cache):
    cache.set_job(KEY, job())
    cache.set_pod(KEY, pod(0), deleted=False)
    cache.set_tdajob(KEY, None)
    cache.set_job(KEY, None)
    cache.set_pod(KEY, pod(0), deleted=True)
    assert cache.get(KEY) is None


@pytest.mark.parametrize("role", [RESULT, MANIFEST])
def test_a_deleted_tdajob_is_forgotten_once_its_configmaps_are_gone(cache, role):
    body = config_map(0) if role == RESULT else manifest_config_map(4)
    cache.set_record(KEY, UID, role, body, deleted=False)
    cache.set_job(KEY, job())
    cache.set_tdajob(KEY, None)  # deleted; the garbage collector then deletes the children
    cache.set_job(KEY, None)
    cache.set_record(KEY, UID, role, body, deleted=True)
    assert cache.get(KEY) is None


# ------------------------------------------------------------------ the resync's fresh reads


def test_resync_reads_afresh_what_an_unfinished_tdajob_depends_on(cache, monkeypatch):
    """A Job event lost across a restart: the resync's reads put the Job's completion and the
    records in the cache, and reading the same record twice counts it once."""
    from tda_operator import reconcile
    from tda_operator.settings import Settings
    from tda_operator_fixtures import condition

    cache.set_job(KEY, job(completions=1, active=1))
    done = job(completions=1, succeeded=1, completed="0", conditions=[condition("Complete")])
    api = {("batch/v1", "Job"): done, (contract.API_VERSION, contract.TDAJOB_KIND): tdajob_body(PREFIX, parallelism=4)}
    monkeypatch.setattr(reconcile.kube, "get", lambda api_version, kind, namespace, name: api[(api_version, kind)])
    monkeypatch.setattr(reconcile.kube, "list_config_maps", lambda namespace, selector: [config_map(0)])
    reconciler = reconcile.Reconciler(cache, Settings())
    run = cache.get(KEY)
    reconciler._refresh(KEY, run.tdajob)
    reconciler._refresh(KEY, run.tdajob)
    run = cache.get(KEY)
    assert [c["type"] for c in run.job["status"]["conditions"]] == ["Complete"]
    once = IndexOutcome.parse(outcome(0))
    assert list(run.totals[UID].outcomes) == [0] and run.totals[UID].succeeded == once.succeeded > 0


def test_a_configmap_no_tdajob_owns_is_not_a_record(cache):
    orphan = config_map(0)
    orphan["metadata"]["ownerReferences"] = []
    assert not cache.observe_record(KEY, orphan, deleted=False)
    assert cache.observe_record(KEY, config_map(0), deleted=False)


# ------------------------------------------------------------------ a namespace being deleted


@pytest.mark.parametrize(("causes", "retried"), [
    ([{"type": "NamespaceTerminating", "field": "metadata.namespace"}], False),
    ([], True),  # any other refusal (e.g. RBAC) is an error, retried with backoff
])
def test_nothing_is_created_or_retried_in_a_namespace_being_deleted(cache, monkeypatch, causes, retried):
    """Deleting a namespace deletes its Jobs before (some of) its TDAJobs: the operator must not
    retry re-creating them against the API server's refusal, thousands of times."""
    from kubernetes.client.exceptions import ApiException
    from tda_operator import reconcile
    from tda_operator.settings import Settings

    def refuse(obj, subresource=""):
        error = ApiException(status=403, reason="Forbidden")
        error.body = json.dumps({"kind": "Status", "code": 403, "reason": "Forbidden",
                                 "details": {"causes": causes}})
        raise error

    monkeypatch.setattr(reconcile.kube, "apply", refuse)
    reconciler = reconcile.Reconciler(cache, Settings())
    if retried:
        with pytest.raises(ApiException):
            reconciler.reconcile(KEY)
    else:
        assert reconciler.reconcile(KEY) is None


# ------------------------------------------------------------------ pods the Job controller cannot create


def failed_create(message: str, when: str, job_uid: str = "") -> dict:
    from tda_operator_fixtures import JOB_UID

    return {"apiVersion": "v1", "kind": "Event", "reason": "FailedCreate", "type": "Warning", "message": message,
            "lastTimestamp": when,
            "involvedObject": {"kind": "Job", "namespace": NAMESPACE, "name": "torus", "uid": job_uid or JOB_UID}}


def test_the_latest_failed_create_of_a_known_tdajobs_job_is_kept(cache):
    assert cache.note_failed_create(KEY, failed_create("exceeded quota: q", "2026-01-01T00:03:00Z"))
    assert not cache.note_failed_create(KEY, failed_create('violates PodSecurity "x"', "2026-01-01T00:01:00Z"))
    assert cache.get(KEY).failed_create.problem[0] == "QuotaExceeded"  # the older Event came late
    assert cache.note_failed_create(KEY, failed_create('violates PodSecurity "x"', "2026-01-01T00:04:00Z"))
    assert cache.get(KEY).failed_create.problem[0] == "PodSecurityViolation"
    # Another Job's Events (no TDAJob of that name) are not kept.
    assert not cache.note_failed_create(("other", "torus"), failed_create("exceeded quota: q", "2026-01-01T00:05:00Z"))
    assert cache.get(("other", "torus")) is None


def test_a_failed_create_names_the_pending_reason_until_pods_exist(cache, monkeypatch):
    """The reconcile reads the watched Event: no request while a Job has no pods."""
    from tda_operator import reconcile
    from tda_operator.settings import Settings

    written = []
    monkeypatch.setattr(reconcile.kube, "apply", lambda obj, subresource="": job(completions=1))
    monkeypatch.setattr(reconcile.kube, "create_event", lambda event: None)
    monkeypatch.setattr(reconcile.kube, "apply_status",
                        lambda namespace, name, version, status: written.append(status) or {})
    monkeypatch.setattr(reconcile.kube, "get", lambda *args: pytest.fail("no read is needed"))
    reconciler = reconcile.Reconciler(cache, Settings())
    reconciler._identities.add(NAMESPACE)
    cache.set_job(KEY, job(completions=1))
    cache.note_failed_create(KEY, failed_create('pods "torus-0-x" is forbidden: violates PodSecurity "r" (s-7)',
                                                "2026-01-01T00:03:00Z"))
    reconciler.reconcile(KEY)
    assert (written[-1]["phase"], written[-1]["reason"]) == ("Pending", "PodSecurityViolation")
    assert "s-7" not in json.dumps(written[-1])
    cache.set_pod(KEY, pod(0, "Pending", None), deleted=False)
    reconciler.reconcile(KEY)
    assert written[-1]["reason"] != "PodSecurityViolation"


def test_a_watch_event_older_than_our_own_status_write_is_ignored(cache):
    """The watch may deliver our previous write after the response of the next one: the cache
    keeps the newer status, so the next write is not made over a stale version (a conflict)."""
    cache.note_status(KEY, written("105", "Running"))
    cache.set_tdajob(KEY, tdajob_body(PREFIX, resource_version="104", status={"phase": "Pending"}))
    assert (cache.get(KEY).resource_version, cache.get(KEY).tdajob.status.phase) == ("105", "Running")
    recreated = tdajob_body(PREFIX, resource_version="90", status={"phase": "Pending"})
    recreated["metadata"]["uid"] = "uid-new"
    cache.set_tdajob(KEY, recreated)  # another object of the same name: taken as it is
    assert cache.get(KEY).tdajob.metadata.uid == "uid-new"


def test_progress_within_a_phase_is_coalesced_but_a_finished_run_is_written_at_once(cache, monkeypatch):
    from tda_operator import reconcile
    from tda_operator.settings import Settings
    from tda_operator_fixtures import condition

    written_statuses = []
    version = iter(range(200, 300))

    def apply_status(namespace, name, resource_version, status):
        written_statuses.append(status)
        return {"metadata": {"resourceVersion": str(next(version))}, "status": status}

    monkeypatch.setattr(reconcile.kube, "apply", lambda obj, subresource="": cache.get(KEY).job or obj)
    monkeypatch.setattr(reconcile.kube, "create_event", lambda event: None)
    monkeypatch.setattr(reconcile.kube, "apply_status", apply_status)
    clock = [1000.0]
    monkeypatch.setattr(reconcile.time, "monotonic", lambda: clock[0])
    reconciler = reconcile.Reconciler(cache, Settings())
    reconciler._identities.add(NAMESPACE)
    cache.set_job(KEY, job(completions=2, active=2))
    cache.set_pod(KEY, pod(0, "Running", None), deleted=False)
    assert reconciler.reconcile(KEY) is None and written_statuses[-1]["phase"] == "Running"
    cache.set_record(KEY, UID, RESULT, config_map(0), deleted=False)  # one index done: progress only
    clock[0] += 0.5
    assert reconciler.reconcile(KEY) == pytest.approx(reconcile.COALESCE_SECONDS - 0.5)
    assert len(written_statuses) == 1
    clock[0] += reconcile.COALESCE_SECONDS - 0.5
    assert reconciler.reconcile(KEY) is None and len(written_statuses) == 2
    assert written_statuses[-1]["progress"]["succeeded"] == 1
    cache.set_record(KEY, UID, RESULT, config_map(1), deleted=False)
    cache.set_job(KEY, job(completions=2, succeeded=2, completed="0-1", conditions=[condition("Complete")]))
    clock[0] += 0.1
    reconciler.reconcile(KEY)
    assert written_statuses[-1]["phase"] == "Succeeded" and len(written_statuses) == 3
    assert KEY not in reconciler._written


def test_events_are_posted_off_the_reconcile_and_dropped_when_too_many_wait(monkeypatch):
    import threading

    from tda_operator import metrics, reconcile

    posted, release = [], threading.Event()

    def create_event(event):
        release.wait(10)
        posted.append(event["reason"])

    monkeypatch.setattr(reconcile.kube, "create_event", create_event)
    poster = reconcile.EventPoster(backlog=2)
    dropped = metrics.EVENTS_DROPPED._value.get()
    event = {"reason": "", "involvedObject": {"namespace": NAMESPACE, "name": "torus"}}
    for reason in ("a", "b", "c"):
        poster.post({**event, "reason": reason})  # nothing posts yet: the third is one too many
    assert metrics.EVENTS_DROPPED._value.get() == dropped + 1
    poster.start(threads=1)
    release.set()
    deadline = time.monotonic() + 10
    while len(posted) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert posted == ["a", "b"]
