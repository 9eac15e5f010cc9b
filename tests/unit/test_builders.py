"""Pure builders of a TDAJob's children."""

from __future__ import annotations

import json

import pytest
from tda_operator import builders, contract
from tda_operator.settings import Settings
from tda_operator_fixtures import tdajob

pytestmark = pytest.mark.unit

SETTINGS = Settings(worker_image="worker:test", worker_service_account="tda-worker")
S3_PREFIX = {"datasets": {"urlPrefix": "s3://bucket/clouds", "pattern": "*.npy"}, "credentialsSecret": "s3-creds"}


def test_labels_and_owner_reference():
    job = tdajob()
    assert builders.labels(job)["app.kubernetes.io/managed-by"] == "tda-operator"
    assert builders.labels(job)[contract.LABEL_TDAJOB] == "torus"
    owner = builders.owner_reference(job)
    assert owner == {
        "apiVersion": "tda.io/v1alpha1",
        "kind": "TDAJob",
        "name": "torus",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_inline_dataset():
    datasets = builders.datasets_for(tdajob())
    assert datasets == [{"id": "inline", "inline": {"points": [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]}}]


def test_url_dataset_gets_a_stable_id():
    job = tdajob({"url": "s3://bucket/clouds/torus.npy"})
    assert builders.datasets_for(job) == [{"id": "torus.npy", "url": "s3://bucket/clouds/torus.npy"}]
    assert builders.dataset_id_from_url("https://host/") == "host"


def test_listed_datasets_are_filtered_sorted_and_limited():
    job = tdajob({**S3_PREFIX, "datasets": {**S3_PREFIX["datasets"], "limit": 2}})
    datasets = builders.datasets_for(job, ["c.npy", "a.npy", "notes.txt", "b.npy", "a.npy"])
    assert datasets == [
        {"id": "a.npy", "url": "s3://bucket/clouds/a.npy"},
        {"id": "b.npy", "url": "s3://bucket/clouds/b.npy"},
    ]


def test_file_prefix_is_listed_by_the_pods():
    job = tdajob({"datasets": {"urlPrefix": "file:///data/clouds/"}, "volume": {"claimName": "data"}}, parallelism=3)
    assert not builders.needs_listing_by_operator(job)
    assert builders.datasets_for(job, ["ignored.npy"]) == []
    assert builders.shard_count(job, 0, SETTINGS) == 3
    document = builders.spec_document(job, [], 3)
    assert document["listing"] == {"urlPrefix": "file:///data/clouds/", "pattern": "*", "limit": None}


@pytest.mark.parametrize(
    ("spec", "n_datasets", "expected"),
    [({}, 50, 50), ({}, 5000, 1000), ({"shards": 8}, 50, 8), ({"shards": 80}, 50, 50), ({}, 1, 1)],
)
def test_shard_count(spec, n_datasets, expected):
    assert builders.shard_count(tdajob(S3_PREFIX, **spec), n_datasets, SETTINGS) == expected


def test_spec_config_map_follows_the_contract():
    job = tdajob(computation={"maxDimension": 2, "threshold": 1.5}, output={"url": "s3://bucket/out/"})
    config_map = builders.build_spec_config_map(job, builders.datasets_for(job), 1)
    assert config_map["metadata"]["name"] == contract.spec_config_map_name("torus") == "torus-spec"
    assert config_map["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    document = json.loads(config_map["data"][contract.SPEC_FILE_KEY])
    assert set(document) >= {"name", "namespace", "uid", "computation", "input", "datasets", "shards", "output"}
    assert document["computation"]["maxDimension"] == 2 and document["computation"]["threshold"] == 1.5
    assert document["output"] == {"url": "s3://bucket/out/"} and document["shards"] == 1


def test_spec_config_map_refuses_oversized_dataset_lists():
    job = tdajob(S3_PREFIX)
    many = [{"id": f"{i:07d}.npy", "url": f"s3://bucket/clouds/{'x' * 100}/{i:07d}.npy"} for i in range(10_000)]
    with pytest.raises(builders.SpecTooLarge, match="spec.input.datasets"):
        builders.build_spec_config_map(job, many, 10)


def test_datasets_from_config_map_round_trip():
    job = tdajob()
    config_map = builders.build_spec_config_map(job, builders.datasets_for(job), 1)
    assert builders.datasets_from_config_map(config_map) == (builders.datasets_for(job), 1)


def test_default_resources_from_the_estimate():
    settings = Settings(memory_base_bytes=100 * 1024**2, memory_headroom=2.0, default_cpu_request="250m")
    assert builders.default_resources(50 * 1024**2, settings) == {"requests": {"cpu": "250m", "memory": "200Mi"}}
    assert builders.default_resources(None, settings)["requests"]["memory"] == settings.default_memory_request


def test_given_resources_win():
    job = tdajob(resources={"limits": {"memory": "1Gi", "cpu": 2}})
    assert builders.resources_for(job, 10**9, SETTINGS) == {"limits": {"memory": "1Gi", "cpu": 2}}


def test_indexed_job():
    job = builders.build_job(tdajob(S3_PREFIX, parallelism=4, activeDeadlineSeconds=60), SETTINGS, 50)
    spec = job["spec"]
    assert job["metadata"]["name"] == "torus" and job["metadata"]["ownerReferences"][0]["controller"] is True
    assert spec["completionMode"] == "Indexed" and spec["completions"] == 50 and spec["parallelism"] == 4
    assert spec["backoffLimitPerIndex"] == 2 and spec["activeDeadlineSeconds"] == 60
    assert spec["suspend"] is False and "ttlSecondsAfterFinished" not in spec
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "tda-worker"
    container = pod["containers"][0]
    assert container["image"] == "worker:test"
    assert container["command"] == ["tda-compute", "run", "--spec", "/etc/tda/job.json"]
    assert container["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert {e["name"] for e in container["env"]} == {"TDA_JOB_NAME", "POD_NAMESPACE"}
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert {"name": "tda-spec", "mountPath": "/etc/tda", "readOnly": True} in container["volumeMounts"]
    assert spec["template"]["metadata"]["labels"][contract.LABEL_TDAJOB] == "torus"


def test_parallelism_never_exceeds_the_shards():
    assert builders.build_job(tdajob(parallelism=8), SETTINGS, 1)["spec"]["parallelism"] == 1


def test_pod_failure_policy_fails_the_index_on_invalid_input_and_ignores_disruptions():
    rules = builders.pod_failure_policy()["rules"]
    assert rules[0]["action"] == "FailIndex"
    assert rules[0]["onExitCodes"]["values"] == [contract.EXIT_INVALID_INPUT]
    assert rules[1] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}


def test_volume_for_file_inputs():
    job = builders.build_job(
        tdajob({"url": "file:///data/x.npy", "volume": {"claimName": "data"}}), SETTINGS, 1
    )
    pod = job["spec"]["template"]["spec"]
    assert {"name": "tda-data", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}} in pod["volumes"]
    assert {"name": "tda-data", "mountPath": "/data", "readOnly": True} in pod["containers"][0]["volumeMounts"]


def test_kueue_queue_label_is_passed_through_and_owns_suspend():
    job_model = tdajob()
    job_model.metadata.labels[builders.QUEUE_LABEL] = "team-a"
    job = builders.build_job(job_model, SETTINGS, 1)
    assert job["metadata"]["labels"][builders.QUEUE_LABEL] == "team-a"
    assert "suspend" not in job["spec"]
    job_model.spec.suspend = True
    assert builders.build_job(job_model, SETTINGS, 1)["spec"]["suspend"] is True


def test_job_drift():
    desired = builders.build_job(tdajob(parallelism=2), SETTINGS, 4)
    live = json.loads(json.dumps(desired))
    live["metadata"]["labels"]["extra"] = "kept"
    assert builders.job_drift(desired, live) == []
    live["spec"]["parallelism"] = 1
    live["metadata"]["labels"].pop(contract.LABEL_TDAJOB)
    assert builders.job_drift(desired, live) == ["spec.parallelism", "metadata.labels"]


def test_estimate_input_bytes_only_for_inline_rips():
    calls = []

    def estimate(n_points, max_dim, threshold):
        calls.append((n_points, max_dim, threshold))
        return {"bytes": 123}

    assert builders.estimate_input_bytes(tdajob(), estimate) == {"bytes": 123}
    assert calls == [(3, 1, None)]
    assert builders.estimate_input_bytes(tdajob({"url": "s3://b/k.npy"}), estimate) is None
    assert builders.estimate_input_bytes(tdajob(), None) is None


def test_worker_rbac_lets_the_worker_write_results_only():
    service_account, role, binding = builders.build_worker_rbac("lab", SETTINGS)
    assert service_account["metadata"] == role["metadata"] | {} and service_account["metadata"]["name"] == "tda-worker"
    verbs = {(tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"]}
    assert (("configmaps",), ("create", "get", "update", "patch")) in verbs
    assert all("delete" not in r["verbs"] and "secrets" not in r["resources"] for r in role["rules"])
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tda-worker", "namespace": "lab"}]
