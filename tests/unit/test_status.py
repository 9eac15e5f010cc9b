"""TDAJob status from the Job, its pods and their termination messages."""

from __future__ import annotations

import pytest
from tda_operator import contract
from tda_operator import status as st
from tda_operator.models import Condition
from tda_operator_fixtures import condition, job, pod, report, tdajob

pytestmark = pytest.mark.unit
NOW = "2026-01-01T00:10:00Z"


def test_parse_termination_message():
    assert st.parse_termination_message(report(0))["intervalCounts"] == [3, 1]
    assert st.parse_termination_message("Traceback (most recent call last): ...") is None
    assert st.parse_termination_message('{"v": 2}') is None
    assert st.parse_termination_message("") is None and st.parse_termination_message(None) is None


def test_worker_report_of_a_crashed_pod_keeps_the_log_tail():
    crashed = st.worker_report(pod(1, "Failed", 1, "Segmentation fault"))
    assert crashed.exit_code == 1 and crashed.error == "exit code 1: Segmentation fault"
    assert st.worker_report(pod(1, "Running", None)) is None
    no_index = pod(1)
    no_index["metadata"]["annotations"] = {}
    assert st.worker_report(no_index) is None


def test_pod_index_from_annotation_or_label():
    labelled = pod(7)
    labelled["metadata"] = {"labels": {st.COMPLETION_INDEX_ANNOTATION: "7"}}
    assert st.pod_index(labelled) == 7 and st.pod_index(pod(2)) == 2


def test_final_reports_prefer_success_then_the_latest_failure():
    pods = [
        pod(0, "Failed", 4, report(0, succeeded=0, failed=1, error="Transient: s3 down"), "2026-01-01T00:01:00Z"),
        pod(0, "Succeeded", 0, report(0), "2026-01-01T00:02:00Z"),
        pod(1, "Failed", 4, report(1, error="Transient: first"), "2026-01-01T00:01:00Z"),
        pod(1, "Failed", 4, report(1, error="Transient: second"), "2026-01-01T00:03:00Z"),
    ]
    chosen = st.final_reports(pods)
    assert chosen[0].exit_code == 0 and chosen[1].error == "Transient: second"


def test_running_indexes_skip_terminating_pods():
    going = pod(2, "Running", None)
    going["metadata"]["deletionTimestamp"] = NOW
    assert st.running_indexes([pod(0, "Running", None), pod(1), going, pod(3, "Pending", None)]) == {0, 3}


@pytest.mark.parametrize(("text", "expected"), [("", set()), (None, set()), ("1,3-5", {1, 3, 4, 5}), ("0", {0})])
def test_parse_index_ranges(text, expected):
    assert st.parse_index_ranges(text) == expected


def test_datasets_in_index_follow_the_contract():
    assert [st.datasets_in_index(10, 4, i) for i in range(4)] == [3, 3, 2, 2]
    assert sum(len(contract.datasets_of_index(10, 4, i)) for i in range(4)) == 10
    assert st.datasets_in_index(None, 4, 0) == 0


def test_progress_counts_each_dataset_once():
    live = job(completions=4, completed="0,2", failed="3")
    reports = st.final_reports([pod(0, message=report(0)), pod(3, "Failed", 3, report(3, succeeded=0, failed=1))])
    progress = st.progress_of(live, reports, {1}, 4, 4)
    assert (progress.total, progress.succeeded, progress.failed, progress.running) == (4, 2, 1, 1)
    assert progress.text == "2/4 (1 failed)"


def test_progress_of_pod_listed_datasets_comes_from_the_reports():
    reports = st.final_reports([pod(0, message=report(0, datasets=5, succeeded=5)), pod(1, "Running", None)])
    progress = st.progress_of(job(completions=2, completed="0"), reports, {1}, None, 2)
    assert (progress.total, progress.succeeded, progress.running) == (5, 5, 1)


def test_summary_sums_counts_and_maximises_persistence():
    reports = st.final_reports(
        [
            pod(0, message=report(0, intervalCounts=[3, 1], maxPersistence=[0.5, 0.2])),
            pod(1, message=report(1, intervalCounts=[4, 2, 1], maxPersistence=[0.4, 0.9, 0.1])),
        ]
    )
    summary = st.summary_of(reports)
    assert summary.intervalCounts == [7, 3, 1] and summary.maxPersistence == [0.5, 0.9, 0.1]
    assert summary.computeSeconds == 1.0


def test_succeeded():
    live = job(completions=2, conditions=[condition("Complete")], completed="0-1")
    live["status"]["completionTime"] = "2026-01-01T00:06:00Z"
    result = st.compute_status(tdajob(), live, [pod(0, message=report(0)), pod(1, message=report(1))], 2, 2, NOW)
    assert result.phase == "Succeeded" and result.reason == "Completed"
    assert result.completionTime == "2026-01-01T00:06:00Z" and result.startTime == "2026-01-01T00:00:00Z"
    assert result.summary.intervalCounts == [6, 2] and result.progress.succeeded == 2
    assert result.resultRef.kind == "ConfigMap" and result.resultRef.namePrefix == "torus-result-"
    assert result.jobName == "torus" and result.observedGeneration == 3
    kinds = {c.type: c.status for c in result.conditions}
    assert kinds == {"Ready": "True", "Complete": "True", "Failed": "False"}
    assert all(c.observedGeneration == 3 for c in result.conditions)


def test_bad_dataset_fails_its_index_with_the_workers_reason():
    live = job(completions=3, conditions=[condition("Failed", "FailedIndexes")], completed="0,2", failed="1")
    pods = [
        pod(0, message=report(0)),
        pod(1, "Failed", contract.EXIT_INVALID_INPUT, report(1, succeeded=0, failed=1, error="InvalidInput: not a npy")),
        pod(2, message=report(2)),
    ]
    result = st.compute_status(tdajob(), live, pods, 3, 3, NOW)
    assert result.phase == "Failed" and result.reason == "InvalidInput"
    assert "1 of 3 datasets failed" in result.message and "not a npy" in result.message
    assert (result.progress.succeeded, result.progress.failed) == (2, 1)


@pytest.mark.parametrize(
    ("job_reason", "expected"),
    [("DeadlineExceeded", "DeadlineExceeded"), ("BackoffLimitExceeded", "BackoffLimitExceeded"),
     ("PodFailurePolicy", "InvalidInput")],
)
def test_job_failure_reasons(job_reason, expected):
    live = job(conditions=[condition("Failed", job_reason, "Job was active longer than specified deadline")])
    result = st.compute_status(tdajob(), live, [], 4, 4, NOW)
    assert result.phase == "Failed" and result.reason == expected


def test_failure_reason_from_transient_exhaustion_and_crashes():
    failed = condition("Failed", "FailedIndexes")
    assert st.failure_reason(failed, [st.WorkerReport(0, 4, "", error="Transient: timeout")]) == "Transient"
    assert st.failure_reason(failed, [st.WorkerReport(0, 139, "", error="exit code 139")]) == "BackoffLimitExceeded"
    assert st.failure_reason(failed, [st.WorkerReport(0, 3, "")]) == "InvalidInput"


def test_pending_running_suspended():
    assert st.compute_status(tdajob(), None, [], 1, 1, NOW).phase == "Pending"
    assert st.compute_status(tdajob(), job(), [], 4, 4, NOW).reason == "Scheduling"
    running = st.compute_status(tdajob(), job(active=1), [pod(0, "Running", None)], 4, 4, NOW)
    assert running.phase == "Running" and running.progress.running == 1
    suspended = st.compute_status(tdajob(), job(suspend=True, conditions=[condition("Suspended")]), [], 4, 4, NOW)
    assert suspended.phase == "Suspended"
    assert {c.type: c.status for c in suspended.conditions}["Ready"] == "True"


def test_last_transition_time_is_kept_while_a_condition_holds():
    previous = [Condition(type="Ready", status="True", lastTransitionTime="2026-01-01T00:00:00Z")]
    conditions = st.conditions_for("Running", "Running", "", 1, previous, NOW)
    by_type = {c.type: c for c in conditions}
    assert by_type["Ready"].lastTransitionTime == "2026-01-01T00:00:00Z"
    assert by_type["Complete"].lastTransitionTime == NOW
    flipped = {c.type: c for c in st.conditions_for("Failed", "X", "", 1, conditions, "2026-01-02T00:00:00Z")}
    assert flipped["Ready"].lastTransitionTime == "2026-01-02T00:00:00Z"
    assert flipped["Complete"].lastTransitionTime == NOW


def test_infeasible_status_names_the_numbers():
    result = st.infeasible_status(tdajob(), {"bytes": 64 * 1024**3, "simplices": 10**12}, 8 * 1024**3, NOW)
    assert result.phase == "Failed" and result.reason == "Infeasible"
    assert "64.00 GiB" in result.message and "8.00 GiB" in result.message and "simplices=" in result.message


def test_invalid_spec_status():
    result = st.invalid_spec_status(tdajob(), "spec.input.datasets: nothing matches", NOW)
    assert result.reason == "InvalidInput" and result.completionTime == NOW


def test_object_store_result_ref():
    ref = st.result_ref(tdajob(output={"url": "s3://b/out/"}), 3)
    assert (ref.kind, ref.url, ref.shards) == ("ObjectStore", "s3://b/out/", 3)


def test_is_finished_and_status_changed():
    done = st.compute_status(tdajob(), job(conditions=[condition("Complete")]), [], 4, 4, NOW)
    assert st.is_finished(done) and st.is_finished({"phase": "Failed"}) and not st.is_finished(None)
    again = st.compute_status(tdajob(), job(conditions=[condition("Complete")]), [], 4, 4, NOW)
    assert not st.status_changed(done, again)
    assert st.status_changed(done, st.compute_status(tdajob(), None, [], 1, 1, NOW))
