"""TDAJob status from the run's outcome records, its Job and (for diagnosis only) its pods."""

from __future__ import annotations

import json
import random

import pytest
import tda_contract as contract
from hypothesis import given, settings
from hypothesis import strategies as hs
from tda_operator import status as st
from tda_operator.cache import Cache
from tda_operator.models import TDAJobStatus, to_k8s
from tda_operator_fixtures import (
    JOB_UID,
    NAMESPACE,
    PREFIX,
    UID,
    condition,
    config_map,
    job,
    outcome,
    outcome_record,
    pod,
    tdajob,
)

pytestmark = pytest.mark.unit
NOW = "2026-01-01T00:10:00Z"
KEY = (NAMESPACE, "torus")


def totals(*texts: str) -> st.Totals:
    result = st.Totals()
    for text in texts:
        parsed = st.IndexOutcome.parse(text)
        assert parsed is not None, text
        result.add(parsed)
    return result


def observed(job_body=None, records=(), pods=(), manifest=None, problem=None) -> st.Observed:
    return st.Observed(job_body, totals(*records), tuple(st.PodState.of(p) for p in pods), manifest, problem)


def prefix_job(**spec):
    return tdajob(PREFIX, parallelism=4, **spec)


# ====================================================================== IndexOutcome.parse


def test_parse_a_record():
    text = outcome(2, datasets=3, succeeded=2, failed=1, intervalCounts=[4, 1], maxPersistence=[0.5, 0.125],
                   computeSeconds=1.5, total=10, errors=["InvalidInput: dataset 6 has NaN"])
    assert st.IndexOutcome.parse(text) == st.IndexOutcome(
        index=2, datasets=3, succeeded=2, failed=1, interval_counts=(4, 1), max_persistence=(0.5, 0.125),
        compute_seconds=1.5, total=10, errors=("InvalidInput: dataset 6 has NaN",),
    )


def test_parse_what_the_worker_writes():
    compute = pytest.importorskip("tda_worker.compute")
    tres = pytest.importorskip("tda_worker.results")
    done = compute.Outcome(index=2, total=10, datasets=3)
    done.tally = tres.Tally(counts=[5, 2], maxima=[0.75, 0.125], seconds=1.25, succeeded=2)
    done.failures.append({"id": "c.npy", "error": "InvalidInput: c.npy has NaN"})
    record = done.record()
    assert set(record) == set(contract.OUTCOME_KEYS)
    expected = st.IndexOutcome(index=2, datasets=3, succeeded=2, failed=1, interval_counts=(5, 2),
                               max_persistence=(0.75, 0.125), compute_seconds=1.25, total=10,
                               errors=("InvalidInput: c.npy has NaN",))
    assert st.IndexOutcome.parse(json.dumps(record)) == expected
    # the termination message is the same record
    assert st.IndexOutcome.parse(compute.termination_message(record)) == expected
    # an index that failed as a whole keeps no result for any of its datasets
    whole = st.IndexOutcome.parse(json.dumps(done.record(["TransientError: s3 unreachable"])))
    assert whole is not None and (whole.succeeded, whole.failed) == (0, 3)
    assert whole.errors[-1] == "TransientError: s3 unreachable"


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "   ",
        "not json",
        "Traceback (most recent call last):\n  File ...",
        "AWS_SECRET_ACCESS_KEY=hunter2",
        "null",
        "42",
        '"a string"',
        "[1, 2]",
        "{}",
        '{"index": 0}',  # no version
        '{"v": 2, "index": 0}',  # a version this operator does not know
        '{"v": "1", "index": 0}',
        '{"v": 1}',  # no index
        '{"v": 1, "index": "0"}',
        '{"v": 1, "index": 1.5}',
        '{"v": 1, "index": null}',
        '{"v": 1, "index": 0',  # cut off
        '{"v": 1, "index": 0} trailing',
    ],
)
def test_parse_refuses_what_is_not_a_record(text):
    assert st.IndexOutcome.parse(text) is None


@pytest.mark.parametrize("bad", [-1, 2**53, 10**30, True, False, "5", 1.5, None, [3], {"n": 1}])
def test_parse_zeroes_counts_that_are_not_counts(bad):
    text = json.dumps(outcome_record(1, datasets=bad, succeeded=bad, failed=bad, total=bad))
    parsed = st.IndexOutcome.parse(text)
    assert parsed is not None and parsed.index == 1
    assert (parsed.datasets, parsed.succeeded, parsed.failed, parsed.total) == (0, 0, 0, 0)


def test_parse_keeps_large_but_exact_counts():
    parsed = st.IndexOutcome.parse(outcome(0, succeeded=2**53 - 1, datasets=123456))
    assert parsed is not None and parsed.succeeded == 2**53 - 1 and parsed.datasets == 123456


def test_parse_cleans_numbers_in_lists_and_seconds():
    text = ('{"v":1,"index":0,"intervalCounts":[1,-2,true,2.5,"3",9007199254740992,7],'
            '"maxPersistence":[0.5,-1.0,NaN,Infinity,true,"2",3],"computeSeconds":-4}')
    parsed = st.IndexOutcome.parse(text)
    assert parsed is not None
    assert parsed.interval_counts == (1, 0, 0, 0, 0, 0, 7)
    assert parsed.max_persistence == (0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0)
    assert parsed.compute_seconds == 0.0
    for bad in ("NaN", "Infinity", "true", '"1"', "[]"):
        parsed = st.IndexOutcome.parse(f'{{"v":1,"index":0,"computeSeconds":{bad}}}')
        assert parsed is not None and parsed.compute_seconds == 0.0


@pytest.mark.parametrize("not_a_list", [None, 3, "3,1", {"0": 3}, True])
def test_parse_ignores_fields_that_are_not_lists(not_a_list):
    parsed = st.IndexOutcome.parse(json.dumps(outcome_record(0, intervalCounts=not_a_list,
                                                             maxPersistence=not_a_list, errors=not_a_list)))
    assert parsed is not None
    assert parsed.interval_counts == () and parsed.max_persistence == () and parsed.errors == ()


def test_parse_caps_lists_and_strings():
    long_error = "InvalidInput: " + "x" * 10_000
    parsed = st.IndexOutcome.parse(outcome(
        0, intervalCounts=list(range(100)), maxPersistence=[1.0] * 100,
        errors=[long_error, 17, "InvalidInput: b", "InvalidInput: c", "InvalidInput: d"],
    ))
    assert parsed is not None
    assert len(parsed.interval_counts) == st.MAX_DIMENSIONS == len(parsed.max_persistence)
    assert len(parsed.errors) == contract.OUTCOME_MAX_ERRORS
    assert len(parsed.errors[0]) == 512 and parsed.errors[0].startswith("InvalidInput: x")
    assert parsed.errors[1] == "InvalidInput: b"  # not a string: left out, nothing of it is shown
    assert 17 not in parsed.errors


JSON = hs.recursive(
    hs.none() | hs.booleans() | hs.integers(min_value=-(2**63), max_value=2**63)
    | hs.floats(allow_nan=True, allow_infinity=True) | hs.text(max_size=20),
    lambda children: hs.lists(children, max_size=5) | hs.dictionaries(hs.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
RECORDISH = hs.fixed_dictionaries(
    {"v": hs.just(1), "index": hs.integers(min_value=0, max_value=1000)},
    optional={key: JSON for key in contract.OUTCOME_KEYS if key not in ("v", "index")},
)


@settings(max_examples=300, deadline=None)
@given(hs.one_of(JSON, RECORDISH))
def test_parse_never_raises_and_yields_clean_values(value):
    parsed = st.IndexOutcome.parse(json.dumps(value))
    if parsed is None:
        return
    for count in (parsed.index, parsed.datasets, parsed.succeeded, parsed.failed, parsed.total,
                  *parsed.interval_counts):
        assert isinstance(count, int) and not isinstance(count, bool) and 0 <= count < 2**53
    for number in (parsed.compute_seconds, *parsed.max_persistence):
        assert isinstance(number, float) and number >= 0 and number != float("inf")
    assert all(isinstance(e, str) and len(e) <= 512 for e in parsed.errors)
    assert len(parsed.errors) <= contract.OUTCOME_MAX_ERRORS


@settings(max_examples=300, deadline=None)
@given(hs.text(max_size=200))
def test_parse_never_raises_on_any_text(text):
    st.IndexOutcome.parse(text)


def test_parse_survives_deeply_nested_json():
    # 2000 bytes: fits in a termination message (4096 bytes) and in an annotation
    assert st.IndexOutcome.parse("[" * 1000 + "]" * 1000) is None
    # Absurd nesting is no record of ours: refused, not a crash.
    assert st.IndexOutcome.parse('{"v":1,"index":0,"errors":' + "[" * 1000 + "]" * 1000 + "}") is None


@pytest.mark.parametrize("field", ["maxPersistence", "computeSeconds"])
def test_parse_survives_integers_too_large_for_a_float(field):
    huge = "1" + "0" * 400
    value = f"[{huge}]" if field == "maxPersistence" else huge
    parsed = st.IndexOutcome.parse(f'{{"v":1,"index":0,"{field}":{value}}}')
    assert parsed is not None and parsed.compute_seconds == 0.0


@pytest.mark.parametrize("index", ["-1", "true", "9007199254740993"])
def test_parse_refuses_an_index_that_is_not_an_index(index):
    assert st.IndexOutcome.parse(f'{{"v":1,"index":{index},"succeeded":1}}') is None


# ====================================================================== Totals


def test_totals_sum_over_indexes():
    t = totals(
        outcome(0, succeeded=2, failed=0, intervalCounts=[3, 1], maxPersistence=[0.5, 0.25], computeSeconds=1.0,
                total=6),
        outcome(1, succeeded=1, failed=1, intervalCounts=[4], maxPersistence=[0.75], computeSeconds=0.5, total=6),
        outcome(2, succeeded=0, failed=2, intervalCounts=[1, 2, 5], maxPersistence=[0.1, 0.9, 2.0],
                computeSeconds=0.25, total=6),
    )
    assert (t.succeeded, t.failed, t.total) == (3, 3, 6)
    assert t.interval_counts == [8, 3, 5]
    assert t.max_persistence == [0.75, 0.9, 2.0]
    assert t.compute_seconds == pytest.approx(1.75)
    assert sorted(t.outcomes) == [0, 1, 2]


def test_totals_keep_both_lists_the_same_length():
    t = totals(outcome(0, intervalCounts=[1], maxPersistence=[0.5, 0.25, 0.125]))
    assert t.interval_counts == [1, 0, 0] and t.max_persistence == [0.5, 0.25, 0.125]
    t.add(st.IndexOutcome.parse(outcome(1, intervalCounts=[1, 1, 1, 1], maxPersistence=[])))
    assert t.interval_counts == [2, 1, 1, 1] and len(t.max_persistence) == 4


def test_totals_replace_an_index_instead_of_counting_it_twice():
    t = totals(outcome(0, succeeded=1, maxPersistence=[0.5]), outcome(1, succeeded=3, maxPersistence=[9.0]))
    assert t.succeeded == 4 and t.max_persistence[0] == 9.0
    t.add(st.IndexOutcome.parse(outcome(1, succeeded=2, failed=1, maxPersistence=[0.25], intervalCounts=[1])))
    assert (t.succeeded, t.failed) == (3, 1)
    assert t.max_persistence[0] == 0.5  # index 1's old maximum is gone
    assert t.interval_counts[0] == 3 + 1
    assert len(t.outcomes) == 2


def test_totals_remove_recomputes():
    t = totals(outcome(0, maxPersistence=[0.5, 0.25], computeSeconds=1.0, total=4),
               outcome(3, maxPersistence=[2.0, 3.0, 4.0], intervalCounts=[1, 1, 1], computeSeconds=2.0, total=9))
    t.remove(3)
    assert list(t.outcomes) == [0]
    assert t.max_persistence == [0.5, 0.25] and t.interval_counts == [3, 1]
    assert (t.succeeded, t.compute_seconds, t.total) == (1, 1.0, 4)
    t.remove(3)  # unknown: nothing changes
    t.remove(42)
    assert t.succeeded == 1 and list(t.outcomes) == [0]
    t.remove(0)
    assert (t.succeeded, t.failed, t.interval_counts, t.max_persistence, t.compute_seconds, t.total) == (
        0, 0, [], [], 0.0, 0)


def _brute_force(outcomes: dict[int, st.IndexOutcome]) -> tuple:
    dims = max([len(o.interval_counts) for o in outcomes.values()] +
               [len(o.max_persistence) for o in outcomes.values()] + [0])
    counts = [sum(o.interval_counts[d] for o in outcomes.values() if d < len(o.interval_counts))
              for d in range(dims)]
    maxima = [max([o.max_persistence[d] for o in outcomes.values() if d < len(o.max_persistence)] + [0.0])
              for d in range(dims)]
    return (sum(o.succeeded for o in outcomes.values()), sum(o.failed for o in outcomes.values()), counts,
            maxima, sum(o.compute_seconds for o in outcomes.values()),
            max([o.total for o in outcomes.values()] + [0]))


def test_totals_match_a_fresh_sum_after_any_sequence_of_changes():
    rng = random.Random(7)
    t = st.Totals()
    expected: dict[int, st.IndexOutcome] = {}
    for _ in range(600):
        index = rng.randrange(12)
        if rng.random() < 0.3:
            t.remove(index)
            expected.pop(index, None)
        else:
            dims = rng.randrange(4)
            o = st.IndexOutcome(index=index, succeeded=rng.randrange(5), failed=rng.randrange(3),
                                interval_counts=tuple(rng.randrange(10) for _ in range(dims)),
                                max_persistence=tuple(rng.random() * 10 for _ in range(rng.randrange(4))),
                                compute_seconds=rng.randrange(100) / 4, total=rng.randrange(50))
            t.add(o)
            expected[index] = o
        succeeded, failed, counts, maxima, seconds, total = _brute_force(expected)
        assert t.outcomes == expected
        assert (t.succeeded, t.failed, t.total) == (succeeded, failed, total)
        assert t.interval_counts == counts
        assert t.max_persistence == maxima
        assert t.compute_seconds == pytest.approx(seconds)


# ====================================================================== PodState.of


def test_pod_state_of_a_finished_pod():
    state = st.PodState.of(pod(2, "Failed", 3, outcome(2, errors=["InvalidInput: row 7 has NaN", "second"]),
                               "2026-01-01T00:03:00Z", reason="Error"))
    assert state.name == "torus-2-abcde" and state.index == 2
    assert state.phase == "Failed" and state.job_uid == JOB_UID
    assert (state.exit_code, state.exit_reason) == (3, "Error")
    assert state.first_error == "InvalidInput: row 7 has NaN"
    assert state.finished_at == "2026-01-01T00:03:00Z"
    assert state.unschedulable == ""


@pytest.mark.parametrize(
    "message",
    [None, "", "Segmentation fault (core dumped)", "AWS_SECRET_ACCESS_KEY=hunter2",
     '{"v": 2, "index": 1, "errors": ["Old: format"]}', outcome(1, errors=[])],
)
def test_pod_first_error_only_from_our_own_record(message):
    state = st.PodState.of(pod(1, "Failed", 1, message, reason="Error"))
    assert state.exit_code == 1
    assert state.first_error == ""


def test_pod_state_of_a_running_pending_and_terminating_pod():
    running = st.PodState.of(pod(0, "Running", None))
    assert (running.phase, running.exit_code, running.first_error, running.index) == ("Running", None, "", 0)
    pending = st.PodState.of(pod(1, "Pending", None))
    assert pending.phase == "Pending" and pending.exit_code is None
    leaving = st.PodState.of(pod(0, "Running", None, deleting=True))
    assert leaving.phase == "Terminating"
    assert st.PodState.of({}).phase == "Pending" and st.PodState.of({}).index is None


@pytest.mark.parametrize("raw", [None, "", "x", "-1", "1.5", "٣"])
def test_pod_index_only_from_a_well_formed_annotation(raw):
    body = pod(3)
    body["metadata"]["annotations"] = {} if raw is None else {st.COMPLETION_INDEX_ANNOTATION: raw}
    index = st.PodState.of(body).index
    assert index is None or (raw == "٣" and index == 3)  # str.isdigit accepts other scripts' digits


def test_pod_index_from_the_annotation():
    assert st.PodState.of(pod(17)).index == 17


def test_pod_unschedulable_message_and_odd_exit_codes():
    state = st.PodState.of(pod(0, "Pending", None, unschedulable="0/3 nodes are available: " + "x" * 1000))
    assert state.unschedulable.startswith("0/3 nodes are available: ") and len(state.unschedulable) == 300
    odd = pod(0, "Failed", 1, reason="R" * 500)
    odd["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] = "1"
    odd_state = st.PodState.of(odd)
    assert odd_state.exit_code is None and len(odd_state.exit_reason) == 64


# ====================================================================== index ranges


@pytest.mark.parametrize("text", [None, "", "0", "1,3-5,7", "0-99", " 2 , 4-6 ", "0,2,4-4", "10-12,20-29,31"])
def test_count_index_ranges_agrees_with_parse(text):
    assert st.count_index_ranges(text) == len(st.parse_index_ranges(text))


def test_parse_index_ranges():
    assert st.parse_index_ranges("1,3-5,7") == {1, 3, 4, 5, 7}
    assert st.parse_index_ranges("") == set() and st.parse_index_ranges(None) == set()
    assert st.count_index_ranges("0-99999") == contract.MAX_SHARDS


# ====================================================================== creation problems


def event(message: str, reason: str = "FailedCreate", when: str = "2026-01-01T00:01:00Z") -> dict:
    return {"reason": reason, "message": message, "lastTimestamp": when, "type": "Warning"}


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ('pods "torus-0-x" is forbidden: violates PodSecurity "restricted:latest": hostPath volumes (secret-7)',
         "PodSecurityViolation"),
        ('pods "torus-0-x" is forbidden: exceeded quota: compute, requested: requests.memory=9Gi, used: '
         "requests.memory=1Gi, limited: requests.memory=2Gi (secret-7)", "QuotaExceeded"),
        ('pods "torus-0-x" is forbidden: admission webhook "x" denied the request (secret-7)', "PodCreationForbidden"),
        ("Internal error occurred: something (secret-7)", "PodCreationFailed"),
    ],
)
def test_creation_problem_in_our_own_words(message, reason):
    problem = st.creation_problem(event(message), "torus")
    assert problem is not None
    assert problem[0] == reason
    assert "kubectl describe job torus" in problem[1]
    assert "secret-7" not in problem[1] and "9Gi" not in problem[1]


def test_only_a_failed_create_names_a_problem():
    """Which FailedCreate is the latest is the cache's to say (test_cache)."""
    assert st.creation_problem(event("Created pod torus-0-x", reason="SuccessfulCreate"), "torus") is None
    assert st.creation_problem(event("violates PodSecurity x"), "torus")[0] == "PodSecurityViolation"


# ====================================================================== phases


def test_creating_without_a_job():
    status = st.compute_status(tdajob(), observed(None), NOW)
    assert (status.phase, status.reason) == ("Pending", "Creating")
    assert status.jobName is None and status.observedGeneration == 3
    assert {c.type: c.status for c in status.conditions} == {"Ready": "False", "Complete": "False",
                                                             "Failed": "False"}


def test_scheduling_while_the_job_has_no_pods_yet():
    status = st.compute_status(tdajob(), observed(job(completions=1)), NOW)
    assert (status.phase, status.reason) == ("Pending", "Scheduling")
    assert status.jobName == "torus" and status.startTime == "2026-01-01T00:00:00Z"


def test_unschedulable_pods():
    stuck = pod(0, "Pending", None, unschedulable="0/3 nodes are available: 3 Insufficient memory.")
    status = st.compute_status(tdajob(), observed(job(completions=1), pods=[stuck]), NOW)
    assert (status.phase, status.reason) == ("Pending", "Unschedulable")
    assert "3 Insufficient memory" in status.message


def test_unschedulable_pods_of_a_job_that_counts_them_active():
    stuck = pod(0, "Pending", None, unschedulable="0/3 nodes are available: 3 Insufficient memory.")
    status = st.compute_status(tdajob(), observed(job(completions=1, active=1), pods=[stuck]), NOW)
    assert (status.phase, status.reason) == ("Pending", "Unschedulable")


@pytest.mark.parametrize("event_text,reason", [
    ('forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false', "PodSecurityViolation"),
    ("forbidden: exceeded quota: team, requested: limits.cpu=64, used: limits.cpu=1, limited: limits.cpu=2",
     "QuotaExceeded"),
])
def test_creation_problem_becomes_the_pending_reason(event_text, reason):
    problem = st.creation_problem(event(event_text), "torus")
    status = st.compute_status(tdajob(), observed(job(completions=1), problem=problem), NOW)
    assert (status.phase, status.reason) == ("Pending", reason)
    assert event_text not in status.message and "limits.cpu" not in status.message
    assert "allowPrivilegeEscalation" not in json.dumps(to_k8s(status))


def test_running():
    pods = [pod(0, "Running", None), pod(1, "Succeeded", 0, outcome(1))]
    status = st.compute_status(prefix_job(), observed(job(active=1), [outcome(1, total=4)], pods, manifest=4), NOW)
    assert (status.phase, status.reason) == ("Running", "Running")
    assert status.progress.succeeded == 1 and status.progress.total == 4 and status.progress.running == 1
    assert status.message == "1/4 datasets done, 1 in progress"
    assert {c.type: c.status for c in status.conditions}["Ready"] == "True"


def test_running_from_records_alone():
    # the pods are gone (node lost, TTL), the records stay
    status = st.compute_status(prefix_job(), observed(job(), [outcome(0)], manifest=4), NOW)
    assert status.phase == "Running" and status.progress.succeeded == 1


def test_suspended():
    for body in (job(suspend=True), job(conditions=[condition("Suspended", "JobSuspended")])):
        status = st.compute_status(tdajob(suspend=True), observed(body), NOW)
        assert (status.phase, status.reason) == ("Suspended", "Suspended")
    # pods on their way out do not keep it Running
    leaving = pod(0, "Running", None, deleting=True)
    status = st.compute_status(tdajob(suspend=True), observed(job(suspend=True), pods=[leaving]), NOW)
    assert status.phase == "Suspended"


def test_succeeded_with_every_record():
    records = [outcome(i, succeeded=1, intervalCounts=[i, 1], maxPersistence=[0.1 * i, 0.5], computeSeconds=0.25)
               for i in range(4)]
    body = job(conditions=[condition("Complete", "CompletionsReached")], completed="0-3", succeeded=4,
               completion_time="2026-01-01T00:04:00Z")
    status = st.compute_status(prefix_job(), observed(body, records, manifest=4), NOW)
    assert (status.phase, status.reason) == ("Succeeded", "Completed")
    assert status.message == "4 of 4 datasets computed"
    assert status.completionTime == "2026-01-01T00:04:00Z"
    assert (status.progress.succeeded, status.progress.failed, status.progress.total) == (4, 0, 4)
    assert status.progress.text == "4/4"
    assert status.summary.intervalCounts == [6, 4]
    assert status.summary.maxPersistence == pytest.approx([0.3, 0.5])
    assert status.summary.computeSeconds == 1.0
    assert {c.type: c.status for c in status.conditions} == {"Ready": "True", "Complete": "True", "Failed": "False"}
    assert st.is_finished(status) and st.is_finished(to_k8s(status))
    assert status.resultRef.kind == "ConfigMap" and status.resultRef.namePrefix == "torus-result-"
    assert status.resultRef.shards == 4


def test_result_ref_to_the_object_store():
    status = st.compute_status(prefix_job(output={"url": "s3://out/run/"}), observed(job()), NOW)
    assert status.resultRef.kind == "ObjectStore" and status.resultRef.url == "s3://out/run/"


COMPLETE = [condition("Complete", "CompletionsReached", when="2026-01-01T00:05:00Z")]


def test_finishing_while_records_are_on_their_way():
    body = job(conditions=COMPLETE, completed="0-3", completion_time="2026-01-01T00:05:00Z")
    seen = observed(body, [outcome(i) for i in range(3)], manifest=4)
    early = st.compute_status(prefix_job(), seen, "2026-01-01T00:05:10Z")
    assert (early.phase, early.reason) == ("Running", "Finishing")
    assert early.completionTime is None and not st.is_finished(early)

    grace = int(st.RECORD_GRACE_SECONDS)
    late = st.compute_status(prefix_job(), seen, f"2026-01-01T00:05:{grace + 1:02d}Z")
    assert (late.phase, late.reason) == ("Succeeded", "Completed")
    assert "1 index records are missing" in late.message
    assert late.progress.succeeded == 3 and late.progress.total == 4


def test_finishing_uses_the_condition_time_without_a_completion_time():
    body = job(conditions=COMPLETE, completed="0-3")
    seen = observed(body, [outcome(0)], manifest=4)
    assert st.compute_status(prefix_job(), seen, "2026-01-01T00:05:01Z").reason == "Finishing"
    assert st.compute_status(prefix_job(), seen, "2026-01-01T00:06:00Z").phase == "Succeeded"


def test_failed_invalid_input_from_the_pod_failure_policy():
    body = job(conditions=[condition("Failed", "PodFailurePolicy")], failed="0")
    pods = [pod(0, "Failed", 3, outcome(0, succeeded=0, failed=1, errors=["InvalidInput: not an npy file"]))]
    status = st.compute_status(tdajob(), observed(body, pods=pods), NOW)
    assert (status.phase, status.reason) == ("Failed", "InvalidInput")
    assert "index 0: InvalidInput: not an npy file" in status.message
    assert status.completionTime == "2026-01-01T00:05:00Z"


def test_failed_invalid_input_from_the_records():
    body = job(conditions=[condition("Failed", "FailedIndexes")], completed="0,1,3", failed="2")
    records = [outcome(0), outcome(1), outcome(3),
               outcome(2, succeeded=0, failed=1, errors=["InvalidInput: dataset 2 has NaN"])]
    status = st.compute_status(prefix_job(), observed(body, records, manifest=4), NOW)
    assert (status.phase, status.reason) == ("Failed", "InvalidInput")
    assert status.message == "1 of 4 datasets failed; index 2: InvalidInput: dataset 2 has NaN"
    assert (status.progress.succeeded, status.progress.failed) == (3, 1)
    assert status.progress.text == "3/4 (1 failed)"
    assert {c.type: c.status for c in status.conditions} == {"Ready": "False", "Complete": "False",
                                                             "Failed": "True"}


def test_failed_index_reported_by_its_last_pod():
    # transient failures until the retries ran out: no record, the last pod says why
    body = job(conditions=[condition("Failed", "FailedIndexes")], completed="0,2,3", failed="1")
    pods = [
        pod(1, "Failed", 4, outcome(1, succeeded=0, errors=["TransientError: s3 timed out"]),
            "2026-01-01T00:01:00Z", name="torus-1-aaaaa"),
        pod(1, "Failed", 4, outcome(1, succeeded=0, errors=["TransientError: s3 unreachable"]),
            "2026-01-01T00:02:00Z", name="torus-1-bbbbb"),
    ]
    records = [outcome(0), outcome(2), outcome(3)]
    status = st.compute_status(prefix_job(), observed(body, records, pods, manifest=4), NOW)
    assert status.phase == "Failed" and status.reason == "TransientError"
    assert "index 1: TransientError: s3 unreachable" in status.message
    assert "timed out" not in status.message
    assert status.progress.failed == 1  # index 1 holds dataset 1 only


def test_failed_index_whose_pods_are_gone():
    body = job(conditions=[condition("Failed", "FailedIndexes", when="2026-01-01T00:05:00Z")], completed="0,2,3",
               failed="1")
    seen = observed(body, [outcome(0), outcome(2), outcome(3)], manifest=4)
    waiting = st.compute_status(prefix_job(), seen, "2026-01-01T00:05:05Z")
    assert waiting.reason == "Finishing"
    status = st.compute_status(prefix_job(), seen, NOW)
    assert (status.phase, status.reason) == ("Failed", "FailedIndexes")
    assert "index 1: failed; its pods are gone" in status.message


def test_failed_pod_without_a_record_says_its_exit_code():
    body = job(completions=1, conditions=[condition("Failed", "FailedIndexes")], failed="0")
    pods = [pod(0, "Failed", 137, "", reason="OOMKilled")]
    status = st.compute_status(tdajob(), observed(body, pods=pods), NOW)
    assert status.phase == "Failed"
    assert "index 0: exit code 137 (OOMKilled)" in status.message


@pytest.mark.parametrize(("job_reason", "reason"), [("DeadlineExceeded", "DeadlineExceeded"),
                                                    ("BackoffLimitExceeded", "BackoffLimitExceeded")])
def test_failed_for_the_job_s_own_reason(job_reason, reason):
    body = job(conditions=[condition("Failed", job_reason)], completed="0,1")
    status = st.compute_status(prefix_job(), observed(body, [outcome(0), outcome(1)], manifest=4), NOW)
    assert (status.phase, status.reason) == ("Failed", reason)
    assert status.completionTime == "2026-01-01T00:05:00Z"
    assert status.progress.succeeded == 2
    # The run is over: the datasets that never ran failed with it.
    assert (status.progress.failed, status.progress.running) == (2, 0)
    assert status.progress.text == "2/4 (2 failed)"


def test_long_failure_messages_are_capped():
    body = job(conditions=[condition("Failed", "FailedIndexes")], failed="0-3")
    records = [outcome(i, succeeded=0, failed=1, errors=["InvalidInput: " + "y" * 600]) for i in range(4)]
    status = st.compute_status(prefix_job(), observed(body, records, manifest=4), NOW)
    assert status.reason == "InvalidInput"
    assert len(status.message) <= st.MAX_MESSAGE_LENGTH
    assert all(len(c.message) <= st.MAX_MESSAGE_LENGTH for c in status.conditions)


# ====================================================================== nothing but our own words


def observe_through_cache(cache: Cache, job_body, problem=None) -> st.Observed:
    """What reconcile hands compute_status: the cache's view of the run."""
    run = cache.get(KEY)
    pods = tuple(p for p in run.pods.values() if p.job_uid == job_body["metadata"]["uid"])
    return st.Observed(job_body, run.totals.get(UID) or st.Totals(), pods, run.manifest_count.get(UID), problem)


@pytest.mark.parametrize("job_body", [
    job(conditions=[condition("Failed", "FailedIndexes")], completed="0", failed="1-3"),
    job(conditions=[condition("Complete", "CompletionsReached")], completed="0-3"),
    job(active=2),
])
def test_a_secret_in_a_log_or_a_foreign_annotation_never_reaches_the_status(job_body):
    secret = "AWS_SECRET_ACCESS_KEY=hunter2"
    from tda_operator_fixtures import tdajob_body

    cache = Cache()
    cache.set_tdajob(KEY, tdajob_body(PREFIX, parallelism=4))
    cache.set_record(KEY, UID, contract.ROLE_RESULT, config_map(0), deleted=False)
    cache.set_record(KEY, UID, contract.ROLE_RESULT, config_map(1, secret), deleted=False)
    cache.set_record(KEY, UID, contract.ROLE_RESULT, config_map(2, f'{{"v":1,"index":2,"note":"{secret}"}}'),
                     deleted=False)
    for p in (pod(1, "Failed", 1, secret, reason="Error"),
              pod(2, "Failed", 4, f"Traceback (most recent call last):\n  {secret}\nKeyError", reason="Error"),
              pod(3, "Failed", 1, '{"v": 1, "index": 3, "errors": 5, "x": "' + secret + '"}'),
              pod(3, "Running", None, secret, name="torus-3-zzzzz")):
        cache.set_pod(KEY, p, deleted=False)
    run = cache.get(KEY)
    status = st.compute_status(run.tdajob, observe_through_cache(cache, job_body), "2026-01-01T01:00:00Z")
    text = json.dumps(to_k8s(status))
    assert "hunter2" not in text and "AWS_SECRET" not in text and "Traceback" not in text
    assert status.phase in ("Failed", "Succeeded", "Running")


# ====================================================================== progress


def test_pods_do_not_count_towards_progress():
    records = [outcome(0, succeeded=2, failed=1, intervalCounts=[5, 1], maxPersistence=[0.5, 0.1]),
               outcome(2, succeeded=3, intervalCounts=[2, 2], maxPersistence=[0.7, 0.3])]
    finished_pods = [pod(0, "Succeeded", 0, records[0]), pod(2, "Succeeded", 0, records[1]),
                     pod(2, "Failed", 4, outcome(2, succeeded=0, errors=["TransientError: x"]), name="torus-2-old")]
    for body in (job(active=2, completed="0,2"),
                 job(conditions=[condition("Complete")], completed="0-3"),
                 job(conditions=[condition("Failed", "FailedIndexes")], completed="0,2", failed="1,3")):
        with_pods = st.compute_status(prefix_job(), observed(body, records, finished_pods, manifest=12), NOW)
        without = st.compute_status(prefix_job(), observed(body, records, [], manifest=12), NOW)
        assert with_pods.progress == without.progress
        assert with_pods.summary == without.summary
        assert with_pods.progress.succeeded == 5
    # a finished pod without a record adds nothing either
    lone = st.compute_status(prefix_job(), observed(job(active=1), pods=[pod(1, "Succeeded", 0, outcome(1))],
                                                    manifest=12), NOW)
    assert lone.progress.succeeded == 0


def test_failed_indexes_without_records_count_their_datasets_when_the_total_is_known():
    body = job(conditions=[condition("Failed", "FailedIndexes")], completed="0,2,3", failed="1")
    records = [outcome(0, succeeded=3), outcome(2, succeeded=2, failed=0), outcome(3, succeeded=2)]
    known = st.progress_of(prefix_job(), observed(body, records, manifest=10))
    assert known.failed == 3  # index 1 of 4 holds datasets 1, 5 and 9
    assert known.total == 10 and known.succeeded == 7
    assert known.text == "7/10 (3 failed)"
    # with a record the record counts, not the whole index
    recorded = st.progress_of(prefix_job(), observed(body, [*records, outcome(1, succeeded=2, failed=1)],
                                                     manifest=10))
    assert recorded.failed == 1
    # unknown total: nothing to count
    unknown = st.progress_of(prefix_job(), observed(body, [outcome(0, total=0)]))
    assert (unknown.total, unknown.failed) == (0, 0) and unknown.text.endswith("/0")


def test_running_counts_datasets_of_live_pods_without_records():
    pods = [pod(0, "Running", None), pod(1, "Pending", None), pod(2, "Running", None),
            pod(3, "Failed", 4, "")]
    progress = st.progress_of(prefix_job(), observed(job(active=3), [outcome(2, total=10)], pods, manifest=10))
    assert progress.running == 3 + 3  # indexes 0 (0, 4, 8) and 1 (1, 5, 9); index 2 has its record


def test_total_from_the_job_annotation_then_the_manifest_then_the_records():
    records = [outcome(0, total=12)]
    assert st.progress_of(prefix_job(), observed(job(datasets=7), records, manifest=10)).total == 7
    assert st.progress_of(prefix_job(), observed(job(), records, manifest=10)).total == 10
    assert st.progress_of(prefix_job(), observed(job(), records)).total == 12
    assert st.progress_of(prefix_job(), observed(job())).total == 0
    # one url or inline: one dataset, annotation or not
    assert st.progress_of(tdajob(), observed(job(completions=1))).total == 1
    assert st.progress_of(tdajob({"url": "s3://b/k.npy"}), observed(None)).total == 1


# ====================================================================== conditions and changes


def test_conditions_keep_their_transition_time_while_their_status_holds():
    seen = observed(job(active=1), pods=[pod(0, "Running", None)])
    first = st.compute_status(tdajob(), seen, "2026-01-01T00:01:00Z")
    job_now = tdajob(status=to_k8s(first))
    again = st.compute_status(job_now, seen, "2026-01-01T00:02:00Z")
    assert {c.type: c.lastTransitionTime for c in again.conditions} == {
        "Ready": "2026-01-01T00:01:00Z", "Complete": "2026-01-01T00:01:00Z", "Failed": "2026-01-01T00:01:00Z"}
    assert not st.status_changed(job_now.status, again)

    done = observed(job(completions=1, conditions=[condition("Complete")], completed="0"), [outcome(0, total=1)])
    final = st.compute_status(job_now, done, "2026-01-01T00:07:00Z")
    times = {c.type: c.lastTransitionTime for c in final.conditions}
    assert times == {"Ready": "2026-01-01T00:01:00Z", "Complete": "2026-01-01T00:07:00Z",
                     "Failed": "2026-01-01T00:01:00Z"}
    assert all(c.observedGeneration == 3 for c in final.conditions)
    assert st.status_changed(job_now.status, final)


def test_conditions_for_each_phase():
    for phase, ready, complete, failed in [("Pending", "False", "False", "False"),
                                           ("Running", "True", "False", "False"),
                                           ("Suspended", "True", "False", "False"),
                                           ("Succeeded", "True", "True", "False"),
                                           ("Failed", "False", "False", "True")]:
        conditions = st.conditions_for(phase, "", "msg", 5, [], NOW)
        assert [(c.type, c.status) for c in conditions] == [("Ready", ready), ("Complete", complete),
                                                            ("Failed", failed)]
        assert all(c.reason == phase and c.message == "msg" and c.lastTransitionTime == NOW for c in conditions)


def test_status_changed():
    seen = observed(job(active=1), pods=[pod(0, "Running", None)])
    a = st.compute_status(tdajob(), seen, NOW)
    assert not st.status_changed(a, TDAJobStatus.model_validate(to_k8s(a)))
    b = a.model_copy(update={"message": "something else"})
    assert st.status_changed(a, b)
    assert st.status_changed(TDAJobStatus(), a)


def test_fail_fast_statuses():
    infeasible = st.infeasible_status(tdajob(), {"bytes": 3 * 1024**3, "simplices": 10**9}, 1024**3, NOW)
    assert (infeasible.phase, infeasible.reason, infeasible.completionTime) == ("Failed", "Infeasible", NOW)
    assert "3.00 GiB" in infeasible.message and "1.00 GiB" in infeasible.message
    assert "simplices=1000000000" in infeasible.message
    invalid = st.invalid_spec_status(tdajob(), "spec.input.url: http:// is not allowed", NOW)
    assert (invalid.phase, invalid.reason) == ("Failed", "InvalidInput")
    assert invalid.message == "spec.input.url: http:// is not allowed"
    assert st.is_finished(invalid) and not st.is_finished(None) and not st.is_finished({"phase": "Running"})
