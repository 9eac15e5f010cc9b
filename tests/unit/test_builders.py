"""Pure builders of a TDAJob's children: the Job, the worker's identity and its admission policy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import tda_contract as contract
import yaml
from tda_operator import builders
from tda_operator.cache import slim_job
from tda_operator.settings import FIELD_MANAGER, Settings
from tda_operator_fixtures import INLINE, PREFIX, tdajob

pytestmark = pytest.mark.unit

SETTINGS = Settings(worker_image="worker:test", worker_service_account="tda-worker")
URL = {"url": "s3://bucket/clouds/torus.npy", "credentialsSecret": "s3-creds"}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "rbac"


def container_of(job: dict[str, Any]) -> dict[str, Any]:
    containers = job["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    """Environment by name: the plain value, or the whole entry for valueFrom."""
    entries = container_of(job)["env"]
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), f"duplicate env vars: {names}"
    return {e["name"]: e.get("value", e) for e in entries}


# ------------------------------------------------------------------ labels and owners


def test_labels_name_the_tdajob_and_the_operator():
    labels = builders.labels(tdajob(name="ring"))
    assert labels[contract.LABEL_TDAJOB] == "ring"
    assert labels["app.kubernetes.io/instance"] == "ring"
    assert labels[contract.LABEL_MANAGED_BY] == FIELD_MANAGER == "tda-operator"
    assert labels["app.kubernetes.io/part-of"] == "tda-platform"


def test_owner_reference_is_the_controlling_tdajob():
    assert builders.owner_reference(tdajob(uid="u-42")) == {
        "apiVersion": "tda.io/v1alpha1",
        "kind": "TDAJob",
        "name": "torus",
        "uid": "u-42",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_job_and_pods_carry_the_labels_the_operator_watches_by():
    # handlers.JOB_SELECTOR / POD_SELECTOR: managed-by=tda-operator and the tdajob label.
    built = builders.build_job(tdajob(), SETTINGS)
    for labels in (built["metadata"]["labels"], built["spec"]["template"]["metadata"]["labels"]):
        assert labels[contract.LABEL_MANAGED_BY] == contract.FIELD_MANAGER_OPERATOR
        assert labels[contract.LABEL_TDAJOB] == "torus"
    meta = built["metadata"]
    assert meta["name"] == contract.job_name("torus") == "torus"
    assert meta["namespace"] == "lab"
    assert meta["ownerReferences"] == [builders.owner_reference(tdajob())]


# ------------------------------------------------------------------ shards and datasets


@pytest.mark.parametrize(
    ("spec_input", "spec", "shards", "datasets"),
    [
        (INLINE, {}, 1, 1),
        (INLINE, {"parallelism": 5, "shards": 7}, 1, 1),  # one dataset: one index, whatever is asked
        (URL, {"parallelism": 3}, 1, 1),
        (URL, {"shards": 9}, 1, 1),
        (PREFIX, {}, 1, None),
        (PREFIX, {"parallelism": 3}, 3, None),
        (PREFIX, {"parallelism": 3, "shards": 8}, 8, None),
        (PREFIX, {"parallelism": 12, "shards": 2}, 2, None),
    ],
)
def test_shard_and_dataset_counts(spec_input, spec, shards, datasets):
    job = tdajob(spec_input, **spec)
    assert builders.shard_count(job) == shards
    assert builders.dataset_count(job) == datasets
    built = builders.build_job(job, SETTINGS)
    assert built["spec"]["completions"] == shards
    assert built["spec"]["completionMode"] == "Indexed"
    # never more pods at once than there are indexes
    assert built["spec"]["parallelism"] == min(job.spec.parallelism, shards)
    assert env_of(built)[contract.ENV_SHARDS] == str(shards)


def test_datasets_annotation_only_when_the_count_is_known():
    for spec_input in (INLINE, URL):
        meta = builders.build_job(tdajob(spec_input), SETTINGS)["metadata"]
        assert meta["annotations"] == {contract.ANNOTATION_DATASETS: "1"}
    prefix_meta = builders.build_job(tdajob(PREFIX, parallelism=4), SETTINGS)["metadata"]
    assert contract.ANNOTATION_DATASETS not in (prefix_meta.get("annotations") or {})


# ------------------------------------------------------------------ the pod template


def test_worker_container_runs_the_worker_command():
    built = builders.build_job(tdajob(PREFIX, parallelism=2), SETTINGS)
    container = container_of(built)
    assert container["name"] == builders.WORKER_CONTAINER
    assert container["image"] == "worker:test"
    assert container["imagePullPolicy"] == SETTINGS.image_pull_policy
    assert container["command"] == list(contract.WORKER_COMMAND) == ["tda-compute", "run"]
    pod_spec = built["spec"]["template"]["spec"]
    assert pod_spec["serviceAccountName"] == "tda-worker"
    assert pod_spec["restartPolicy"] == "Never"  # podFailurePolicy requires it


def test_worker_env_carries_identity_and_limits():
    settings = Settings(max_download_bytes=12345, allow_http=True, max_redirects=7, worker_service_account="w-sa")
    env = env_of(builders.build_job(tdajob(PREFIX, uid="u-7", name="ring", parallelism=3), settings))
    assert env[contract.ENV_TDAJOB_NAME] == "ring"
    assert env[contract.ENV_TDAJOB_UID] == "u-7"
    assert env[contract.ENV_SHARDS] == "3"
    assert env[contract.ENV_MAX_DOWNLOAD_BYTES] == "12345"
    assert env[contract.ENV_ALLOW_HTTP] == "true"
    assert env[contract.ENV_MAX_REDIRECTS] == "7"
    assert env["TDA_SERVICE_ACCOUNT"] == "w-sa"
    assert env["HOME"] == env["TMPDIR"] == contract.SCRATCH_DIR
    assert env[contract.ENV_NAMESPACE] == {
        "name": contract.ENV_NAMESPACE,
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }
    # every value is a string (the API server refuses anything else)
    assert all(isinstance(e["value"], str) for e in container_of(builders.build_job(tdajob(), settings))["env"]
               if "value" in e)


def test_worker_env_defaults_refuse_http():
    env = env_of(builders.build_job(tdajob(), Settings()))
    assert env[contract.ENV_ALLOW_HTTP] == "false"
    assert env[contract.ENV_MAX_DOWNLOAD_BYTES] == str(Settings().max_download_bytes)
    assert env[contract.ENV_MAX_REDIRECTS] == str(Settings().max_redirects)


def test_restricted_security_context_on_pod_and_container():
    built = builders.build_job(tdajob(URL), SETTINGS)
    pod_ctx = built["spec"]["template"]["spec"]["securityContext"]
    assert pod_ctx["runAsNonRoot"] is True
    assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert isinstance(pod_ctx["runAsUser"], int) and pod_ctx["runAsUser"] != 0
    ctx = container_of(built)["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert "add" not in ctx["capabilities"]
    assert not ctx.get("privileged", False)


def test_scratch_only_without_volumes():
    built = builders.build_job(tdajob(), SETTINGS)
    volumes = built["spec"]["template"]["spec"]["volumes"]
    assert volumes == [{"name": builders.SCRATCH_VOLUME, "emptyDir": {}}]
    assert container_of(built)["volumeMounts"] == [{"name": builders.SCRATCH_VOLUME, "mountPath": contract.SCRATCH_DIR}]


def test_input_volume_read_only_at_data_and_output_volume_writable_at_output():
    job = tdajob(
        {"url": "file:///data/clouds/a.npy", "volume": {"claimName": "inputs"}},
        output={"url": "file:///output/run/", "volume": {"claimName": "results"}},
    )
    built = builders.build_job(job, SETTINGS)
    volumes = {v["name"]: v for v in built["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container_of(built)["volumeMounts"]}
    assert set(mounts) == {contract.SCRATCH_DIR, contract.DATA_MOUNT_DIR, contract.OUTPUT_MOUNT_DIR}
    assert volumes[mounts[contract.SCRATCH_DIR]["name"]] == {"name": builders.SCRATCH_VOLUME, "emptyDir": {}}

    data = mounts["/data"]
    assert data["readOnly"] is True
    assert volumes[data["name"]]["persistentVolumeClaim"] == {"claimName": "inputs", "readOnly": True}

    output = mounts["/output"]
    assert not output.get("readOnly", False)
    claim = volumes[output["name"]]["persistentVolumeClaim"]
    assert claim["claimName"] == "results" and not claim.get("readOnly", False)


def test_termination_message_is_the_file_never_the_log():
    container = container_of(builders.build_job(tdajob(), SETTINGS))
    assert container["terminationMessagePolicy"] == "File"
    assert container["terminationMessagePath"] == contract.TERMINATION_MESSAGE_PATH


def test_credentials_secret_is_never_mounted_or_injected():
    # The worker reads spec.input.credentialsSecret itself, with its own token.
    built = builders.build_job(tdajob(PREFIX, parallelism=2, output={"url": "s3://out/run/"}), SETTINGS)
    text = json.dumps(built)
    assert "s3-creds" not in text
    assert "envFrom" not in text and "secretKeyRef" not in text and '"secret"' not in text
    for key in contract.CREDENTIAL_KEYS:
        assert key not in text
    for volume in built["spec"]["template"]["spec"]["volumes"]:
        assert "secret" not in volume and "projected" not in volume


def test_pod_failure_policy_fails_invalid_input_at_once_and_ignores_disruptions():
    built = builders.build_job(tdajob(backoffLimitPerDataset=5), SETTINGS)
    spec = built["spec"]
    assert spec["backoffLimitPerIndex"] == 5
    assert spec["podFailurePolicy"] == builders.pod_failure_policy()
    rules = spec["podFailurePolicy"]["rules"]
    fail = [r for r in rules if r["action"] == "FailIndex"]
    assert len(fail) == 1
    assert fail[0]["onExitCodes"] == {
        "containerName": container_of(built)["name"],  # must name the real container
        "operator": "In",
        "values": [contract.EXIT_INVALID_INPUT],
    }
    assert contract.EXIT_TRANSIENT not in fail[0]["onExitCodes"]["values"]  # transient: retried
    ignore = [r for r in rules if r["action"] == "Ignore"]
    assert ignore == [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    assert not any(r["action"] == "FailJob" for r in rules)


def test_deadline_and_ttl_pass_through_only_when_set():
    plain = builders.build_job(tdajob(), SETTINGS)["spec"]
    assert "ttlSecondsAfterFinished" not in plain and "activeDeadlineSeconds" not in plain
    spec = builders.build_job(tdajob(ttlSecondsAfterFinished=600, activeDeadlineSeconds=90), SETTINGS)["spec"]
    assert spec["ttlSecondsAfterFinished"] == 600 and spec["activeDeadlineSeconds"] == 90
    # 0 is a value (delete at once), not "unset"
    assert builders.build_job(tdajob(ttlSecondsAfterFinished=0), SETTINGS)["spec"]["ttlSecondsAfterFinished"] == 0


def test_suspend_is_asserted_without_kueue():
    assert builders.build_job(tdajob(), SETTINGS)["spec"]["suspend"] is False
    assert builders.build_job(tdajob(suspend=True), SETTINGS)["spec"]["suspend"] is True


def test_under_kueue_the_queue_owns_suspend():
    queued = tdajob(labels={builders.QUEUE_LABEL: "team-a"})
    built = builders.build_job(queued, SETTINGS)
    assert built["metadata"]["labels"][builders.QUEUE_LABEL] == "team-a"
    assert "suspend" not in built["spec"]  # Kueue's webhook creates it suspended and admits it later
    paused = builders.build_job(tdajob(labels={builders.QUEUE_LABEL: "team-a"}, suspend=True), SETTINGS)
    assert paused["spec"]["suspend"] is True  # but a user's pause is ours to assert
    assert builders.QUEUE_LABEL not in builders.build_job(tdajob(), SETTINGS)["metadata"]["labels"]


# ------------------------------------------------------------------ resources


def test_resources_from_the_spec_win():
    job = tdajob(resources={"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}})
    assert container_of(builders.build_job(job, SETTINGS, 10**9))["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"memory": "8Gi"},
    }


def test_resources_from_the_estimate_or_the_defaults():
    settings = Settings(memory_base_bytes=100 * 1024**2, memory_headroom=2.0, default_cpu_request="250m",
                        default_memory_request="300Mi")
    # 100 MiB base + 2 x 50 MiB estimate
    estimated = builders.resources_for(tdajob(), 50 * 1024**2, settings)
    assert estimated == {"requests": {"cpu": "250m", "memory": "200Mi"}}
    # rounded up to whole MiB
    assert builders.resources_for(tdajob(), 1, settings)["requests"]["memory"] == "101Mi"
    assert builders.resources_for(tdajob(URL), None, settings) == {"requests": {"cpu": "250m", "memory": "300Mi"}}
    # an empty resources block is no block
    assert builders.resources_for(tdajob(resources={}), None, settings)["requests"]["memory"] == "300Mi"


# ------------------------------------------------------------------ refusals, drift, estimates


def test_http_refusal():
    assert builders.http_refusal(tdajob({"url": "https://host/a.npy"}), Settings()) is None
    assert builders.http_refusal(tdajob(), Settings()) is None
    assert builders.http_refusal(tdajob(PREFIX), Settings()) is None
    url = builders.http_refusal(tdajob({"url": "http://host/a.npy"}), Settings())
    assert url is not None and url.startswith("spec.input.url:") and "https://" in url
    prefix = builders.http_refusal(tdajob({"datasets": {"urlPrefix": "http://host/dir/"}}), Settings())
    assert prefix is not None and prefix.startswith("spec.input.datasets.urlPrefix:")
    allowed = Settings(allow_http=True)
    assert builders.http_refusal(tdajob({"url": "http://host/a.npy"}), allowed) is None
    assert builders.http_refusal(tdajob({"datasets": {"urlPrefix": "http://host/dir/"}}), allowed) is None


def test_job_drift_none_for_the_desired_job_itself_and_its_cached_view():
    desired = builders.build_job(tdajob(PREFIX, parallelism=3, activeDeadlineSeconds=60), SETTINGS)
    assert builders.job_drift(desired, desired) == []
    # what the cache keeps of a live Job is enough to tell
    assert builders.job_drift(desired, slim_job(desired)) == []


@pytest.mark.parametrize(
    ("edit", "drifted"),
    [
        (lambda live: live["spec"].update(parallelism=1), ["spec.parallelism"]),
        (lambda live: live["spec"].update(suspend=True), ["spec.suspend"]),
        (lambda live: live["spec"].update(activeDeadlineSeconds=5), ["spec.activeDeadlineSeconds"]),
        (lambda live: live["spec"].pop("activeDeadlineSeconds"), ["spec.activeDeadlineSeconds"]),
        (lambda live: live["metadata"]["labels"].pop(contract.LABEL_TDAJOB), ["metadata.labels"]),
        (lambda live: live["metadata"]["labels"].update({contract.LABEL_MANAGED_BY: "kubectl"}),
         ["metadata.labels"]),
        (lambda live: live["metadata"].pop("labels"), ["metadata.labels"]),
        (lambda live: (live["spec"].update(parallelism=9), live["metadata"]["labels"].clear()),
         ["spec.parallelism", "metadata.labels"]),
    ],
)
def test_job_drift_names_edited_fields(edit, drifted):
    desired = builders.build_job(tdajob(PREFIX, parallelism=3, activeDeadlineSeconds=60), SETTINGS)
    live = json.loads(json.dumps(desired))
    edit(live)
    assert builders.job_drift(desired, live) == drifted


def test_job_drift_ignores_what_the_operator_does_not_own():
    desired = builders.build_job(tdajob(PREFIX, parallelism=3), SETTINGS)
    live = json.loads(json.dumps(desired))
    live["metadata"]["labels"]["extra"] = "someone's"
    live["spec"]["completions"] = 99  # immutable: not ours to restore by apply
    live["status"] = {"active": 3}
    assert builders.job_drift(desired, live) == []
    # under Kueue, suspend belongs to the queue
    queued = builders.build_job(tdajob(PREFIX, labels={builders.QUEUE_LABEL: "q"}), SETTINGS)
    admitted = json.loads(json.dumps(queued))
    admitted["spec"]["suspend"] = True
    assert builders.job_drift(queued, admitted) == []


def test_job_drift_notices_a_removed_deadline():
    before = builders.build_job(tdajob(PREFIX, parallelism=3, activeDeadlineSeconds=60), SETTINGS)
    after = builders.build_job(tdajob(PREFIX, parallelism=3), SETTINGS)  # the user removed the deadline
    assert builders.job_drift(after, slim_job(before)) == ["spec.activeDeadlineSeconds"]


def test_estimate_input_bytes_asks_the_core_for_inline_rips_only():
    calls: list[tuple[Any, ...]] = []

    def fake_estimate(n_points, max_dimension, threshold):
        calls.append((n_points, max_dimension, threshold))
        return {"bytes": 1234, "simplices": 5}

    job = tdajob(computation={"maxDimension": 2, "threshold": 1.5})
    assert builders.estimate_input_bytes(job, 300, fake_estimate) == {"bytes": 1234, "simplices": 5}
    assert calls == [(300, 2, 1.5)]
    assert builders.estimate_input_bytes(tdajob(), 3, fake_estimate) == {"bytes": 1234, "simplices": 5}
    assert calls[-1] == (3, 1, None)

    calls.clear()
    assert builders.estimate_input_bytes(tdajob(URL), 0, fake_estimate) is None
    assert builders.estimate_input_bytes(tdajob(PREFIX), 0, fake_estimate) is None
    assert builders.estimate_input_bytes(tdajob(computation={"complex": "cubical"}), 3, fake_estimate) is None
    assert calls == []
    assert builders.estimate_input_bytes(tdajob(), 3, None) is None


def test_build_job_uses_the_estimate_for_memory():
    settings = Settings(memory_base_bytes=0, memory_headroom=1.0)
    built = builders.build_job(tdajob(), settings, 64 * 1024**2)
    assert container_of(built)["resources"]["requests"]["memory"] == "64Mi"


# ------------------------------------------------------------------ the worker's identity


def test_worker_rbac_grants_only_configmap_create_get_and_tdajob_get():
    objs = builders.build_worker_rbac("lab", SETTINGS)
    by_kind = {o["kind"]: o for o in objs}
    assert sorted(by_kind) == ["Role", "RoleBinding", "ServiceAccount"]
    for obj in objs:
        assert obj["metadata"]["name"] == "tda-worker"
        assert obj["metadata"]["namespace"] == "lab"
        assert "ownerReferences" not in obj["metadata"]  # shared by every TDAJob of the namespace

    rules = by_kind["Role"]["rules"]
    granted = {(group, resource): set(rule["verbs"])
               for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]}
    assert granted == {("", "configmaps"): {"create", "get"}, (contract.GROUP, contract.TDAJOB_PLURAL): {"get"}}
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        assert not {"update", "patch", "delete", "deletecollection", "list", "watch"} & set(rule["verbs"])
    assert "secrets" not in json.dumps(rules)

    binding = by_kind["RoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tda-worker"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "tda-worker", "namespace": "lab"}]


def test_worker_rbac_follows_the_service_account_setting():
    objs = builders.build_worker_rbac("ns2", Settings(worker_service_account="custom-sa"))
    assert {o["metadata"]["name"] for o in objs} == {"custom-sa"}
    binding = next(o for o in objs if o["kind"] == "RoleBinding")
    assert binding["subjects"][0]["name"] == "custom-sa" and binding["roleRef"]["name"] == "custom-sa"


def _policy() -> tuple[dict[str, Any], dict[str, Any]]:
    policy, binding = builders.build_worker_admission_policy()
    assert policy["kind"] == "ValidatingAdmissionPolicy"
    assert binding["kind"] == "ValidatingAdmissionPolicyBinding"
    return policy, binding


def test_admission_policy_structure():
    policy, binding = _policy()
    spec = policy["spec"]
    assert policy["apiVersion"] == binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]}
    ]
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    (match,) = spec["matchConditions"]
    assert "request.userInfo.username" in match["expression"]
    assert "'system:serviceaccount:' + request.namespace + ':tda-worker'" in match["expression"]
    # an update of an existing ConfigMap is refused outright
    validations = spec["validations"]
    assert [v["expression"] for v in validations][0] == "request.operation == 'CREATE'"
    assert len(validations) == 2 and all(v.get("message") for v in validations)


def test_admission_policy_matches_the_configured_service_account():
    policy, _ = builders.build_worker_admission_policy("other-sa")
    assert policy["spec"]["matchConditions"][0]["expression"].endswith("':other-sa'")


def test_admission_policy_expressions_name_the_run_s_configmaps():
    # cel-python cannot evaluate CEL optionals (`[?...]`, `.?`); check the names the rule admits.
    spec = _policy()[0]["spec"]
    variables = {v["name"]: v["expression"] for v in spec["variables"]}
    assert set(variables) == {"pod", "stem", "tdajob", "label"}
    assert "authentication.kubernetes.io/pod-name" in variables["pod"]
    assert f"'{contract.LABEL_TDAJOB}'" in variables["label"]
    # pods are <tdajob>-<index>-<5 random>: the stem drops "-" and the 5 characters
    assert "variables.pod.size() - 6" in variables["stem"]
    assert "lastIndexOf('-')" in variables["tdajob"]

    rule = spec["validations"][-1]["expression"]
    assert "variables.label == variables.tdajob" in rule
    assert "variables.tdajob != ''" in rule
    assert "variables.tdajob + '-manifest'" in rule
    assert "variables.tdajob + '-manifest-'" in rule
    assert "variables.tdajob + '-result-'" in rule
    # the suffix checks start right after the fixed part of the name
    assert f"substring(size(variables.tdajob) + {len('-result-')})" in rule
    assert f"substring(size(variables.tdajob) + {len('-manifest-')})" in rule


def test_admission_policy_name_forms_agree_with_the_contract():
    rule = _policy()[0]["spec"]["validations"][-1]["expression"]
    patterns = re.findall(r"matches\('([^']+)'\)", rule)
    assert len(patterns) == 2
    chunk_suffix, result_suffix = patterns
    name = "ring"
    assert contract.manifest_config_map_name(name) == name + "-manifest"
    chunk = contract.manifest_chunk_name(name, "0123456789abcdef" * 4, 12)
    assert chunk.startswith(name + "-manifest-")
    assert re.search(chunk_suffix, chunk[len(name + "-manifest-"):])
    for index in (0, 7, contract.MAX_SHARDS - 1):
        result = contract.result_config_map_name(name, index)
        assert result.startswith(name + "-result-")
        assert re.search(result_suffix, result[len(name + "-result-"):])
    assert not re.search(result_suffix, "3-evil")
    assert not re.search(chunk_suffix, "0123456789-x")


def test_examples_are_what_the_builders_return():
    worker = list(yaml.safe_load_all((EXAMPLES / "worker.yaml").read_text()))
    assert worker == builders.build_worker_rbac("default", Settings())
    policy = list(yaml.safe_load_all((EXAMPLES / "worker-policy.yaml").read_text()))
    assert policy == builders.build_worker_admission_policy()


def test_the_priority_class_reaches_the_worker_pods_only_when_set():
    template = builders.build_job(tdajob(INLINE, priorityClassName="batch-low"), Settings())["spec"]["template"]
    assert template["spec"]["priorityClassName"] == "batch-low"
    assert "priorityClassName" not in builders.build_job(tdajob(INLINE), Settings())["spec"]["template"]["spec"]
