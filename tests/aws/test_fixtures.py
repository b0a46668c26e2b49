"""The AWS fixtures themselves: a real S3 peer, and Batch jobs that really run locally."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.timeout(120)


def _wait_final(batch, job_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            return job
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} still {job['status']}")


class FakeTI:
    """Just enough of a TaskInstance for the operator's links (xcom_push)."""

    def __init__(self):
        self.xcom: dict[str, object] = {}

    def xcom_push(self, key, value, **kwargs):
        self.xcom[key] = value


def test_s3_put_get(moto_server, s3_bucket):
    bucket, prefix = s3_bucket.removeprefix("s3://").split("/", 1)
    s3 = boto3.client("s3")  # endpoint, region and credentials all from the environment
    assert s3.meta.endpoint_url == moto_server.endpoint_url
    s3.put_object(Bucket=bucket, Key=f"{prefix}/hello.txt", Body=b"hello")
    assert s3.get_object(Bucket=bucket, Key=f"{prefix}/hello.txt")["Body"].read() == b"hello"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    assert [o["Key"] for o in listed] == [f"{prefix}/hello.txt"]


def test_job_runs_locally_and_succeeds(batch_env, job_definition, local_batch_runner, tmp_path):
    out = tmp_path / "out.txt"
    code = (
        "import os; open(os.environ['OUT'], 'w').write("
        "'ran ' + os.environ['GREETING'] + ' ' + os.environ['FROM_JD'] + ' ' "
        "+ os.environ['AWS_BATCH_JOB_ID'] + ' ' + os.environ['AWS_BATCH_JOB_ATTEMPT']); print('hi')"
    )
    jd = job_definition(
        ["python", "-c", "raise SystemExit(9)"], {"FROM_JD": "jd", "GREETING": "no"}
    )
    batch = boto3.client("batch")
    job_id = batch.submit_job(
        jobName="hello",
        jobQueue=batch_env,
        jobDefinition=jd,
        containerOverrides={
            "command": ["python", "-c", code],
            "environment": [
                {"name": "OUT", "value": str(out)},
                {"name": "GREETING", "value": "yes"},
            ],
            "resourceRequirements": [{"type": "MEMORY", "value": "1024"}],
        },
    )["jobId"]

    job = _wait_final(batch, job_id)
    assert job["status"] == "SUCCEEDED", job
    assert job["container"]["exitCode"] == 0
    assert out.read_text() == f"ran yes jd {job_id} 1"
    # what Batch reports: the override's command, merged environment and resources
    assert job["container"]["command"] == ["python", "-c", code]
    env = {e["name"]: e["value"] for e in job["container"]["environment"]}
    assert env == {"OUT": str(out), "GREETING": "yes", "FROM_JD": "jd", "AWS_BATCH_JOB_ID": job_id}
    reqs = {r["type"]: r["value"] for r in job["container"]["resourceRequirements"]}
    assert reqs == {"VCPU": "1", "MEMORY": "1024"}
    assert job["attempts"][0]["container"]["exitCode"] == 0

    ran = local_batch_runner.job(job_id)
    assert [j.job_id for j in local_batch_runner.jobs] == [job_id]
    assert ran.status == "SUCCEEDED" and ran.stdout == "hi\n"
    assert ran.environment["AWS_BATCH_JQ_NAME"] == batch_env
    assert ran.container_overrides["environment"][0] == {"name": "OUT", "value": str(out)}
    # list_jobs sees it too, and the output is in CloudWatch Logs
    summary = batch.list_jobs(jobQueue=batch_env)["jobSummaryList"]
    assert [(s["jobId"], s["status"]) for s in summary] == [(job_id, "SUCCEEDED")]
    events = boto3.client("logs").get_log_events(
        logGroupName="/aws/batch/job", logStreamName=job["container"]["logStreamName"]
    )["events"]
    assert [e["message"] for e in events] == ["hi"]


def test_failing_job_reports_exit_code(batch_env, job_definition, local_batch_runner):
    jd = job_definition(
        [sys.executable, "-c", "import sys; print('bad', file=sys.stderr); sys.exit(3)"]
    )
    batch = boto3.client("batch")
    job_id = batch.submit_job(jobName="fails", jobQueue=batch_env, jobDefinition=jd)["jobId"]

    job = _wait_final(batch, job_id)
    assert job["status"] == "FAILED"
    assert job["container"]["exitCode"] == 3
    assert job["statusReason"] == "Essential container in task exited"
    assert local_batch_runner.wait(job_id).stderr == "bad\n"


def test_retry_array_and_dependencies(batch_env, job_definition, local_batch_runner, tmp_path):
    batch = boto3.client("batch")
    flaky = job_definition(
        [
            "python",
            "-c",
            "import os; raise SystemExit(0 if os.environ['AWS_BATCH_JOB_ATTEMPT'] == '2' else 1)",
        ],
        retryStrategy={"attempts": 2},
    )
    first = batch.submit_job(jobName="flaky", jobQueue=batch_env, jobDefinition=flaky)["jobId"]
    writer = job_definition(
        [
            "python",
            "-c",
            f"import os; open(r'{tmp_path}/' + os.environ['AWS_BATCH_JOB_ARRAY_INDEX'], 'w')",
        ]
    )
    array = batch.submit_job(
        jobName="fanout",
        jobQueue=batch_env,
        jobDefinition=writer,
        arrayProperties={"size": 3},
        dependsOn=[{"jobId": first}],
    )["jobId"]

    assert _wait_final(batch, first)["attempts"][1]["container"]["exitCode"] == 0
    parent = _wait_final(batch, array)
    assert parent["status"] == "SUCCEEDED"
    assert parent["arrayProperties"]["statusSummary"]["SUCCEEDED"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0", "1", "2"]
    assert len(local_batch_runner.job(first).attempts) == 2


def test_failed_child_fails_array_and_dependents(batch_env, job_definition, local_batch_runner):
    batch = boto3.client("batch")
    jd = job_definition(
        [
            "python",
            "-c",
            "import os; raise SystemExit(int(os.environ['AWS_BATCH_JOB_ARRAY_INDEX']))",
        ]
    )
    array = batch.submit_job(
        jobName="half", jobQueue=batch_env, jobDefinition=jd, arrayProperties={"size": 2}
    )["jobId"]
    after = batch.submit_job(
        jobName="after", jobQueue=batch_env, jobDefinition=jd, dependsOn=[{"jobId": array}]
    )["jobId"]
    parent = _wait_final(batch, array)
    assert parent["status"] == "FAILED"
    assert parent["arrayProperties"]["statusSummary"]["FAILED"] == 1
    child = batch.describe_jobs(jobs=[f"{array}:1"])["jobs"][0]
    assert (child["status"], child["container"]["exitCode"]) == ("FAILED", 1)
    job = _wait_final(batch, after)
    assert (job["status"], job["statusReason"]) == ("FAILED", "Dependent Job failed")
    assert not local_batch_runner.job(after).attempts  # never ran


def test_attempt_timeout(batch_env, job_definition, local_batch_runner):
    jd = job_definition(["python", "-c", "import time; time.sleep(60)"])
    batch = boto3.client("batch")
    job_id = batch.submit_job(
        jobName="slow", jobQueue=batch_env, jobDefinition=jd, timeout={"attemptDurationSeconds": 1}
    )["jobId"]
    job = _wait_final(batch, job_id)
    assert job["status"] == "FAILED"
    assert job["statusReason"] == "Job attempt duration exceeded timeout"


def test_terminate_stops_the_process(batch_env, job_definition, local_batch_runner):
    jd = job_definition(["python", "-c", "import time; time.sleep(60)"])
    batch = boto3.client("batch")
    job_id = batch.submit_job(jobName="sleeper", jobQueue=batch_env, jobDefinition=jd)["jobId"]
    deadline = time.monotonic() + 10
    while batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    batch.terminate_job(jobId=job_id, reason="stop it")
    job = _wait_final(batch, job_id)
    assert job["status"] == "FAILED" and job["statusReason"] == "stop it"
    assert job["container"]["exitCode"] == 128 + 15  # SIGTERM


def test_multinode_job(batch_env, moto_server, local_batch_runner, tmp_path):
    batch = boto3.client("batch")
    code = (
        "import os; e = os.environ; open(os.path.join(e['OUTDIR'], e['AWS_BATCH_JOB_NODE_INDEX']),"
        " 'w').write(os.environ['AWS_BATCH_JOB_NUM_NODES'] + os.environ.get("
        "'AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS', '-'))"
    )
    container = {
        "image": "x",
        "command": ["python", "-c", code],
        "environment": [{"name": "OUTDIR", "value": str(tmp_path)}],
    }
    batch.register_job_definition(
        jobDefinitionName="mnp",
        type="multinode",
        nodeProperties={
            "numNodes": 2,
            "mainNode": 0,
            "nodeRangeProperties": [{"targetNodes": "0:", "container": container}],
        },
    )
    job_id = batch.submit_job(
        jobName="mnp", jobQueue=batch_env, jobDefinition="mnp", nodeOverrides={"numNodes": 3}
    )["jobId"]
    job = _wait_final(batch, job_id)
    assert job["status"] == "SUCCEEDED"
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        "0": "3-",
        "1": "3127.0.0.1",
        "2": "3127.0.0.1",
    }
    assert sorted(local_batch_runner.job(job_id).nodes) == [0, 1, 2]


def test_no_runner_means_runnable_until_cancelled(batch_env, job_definition):
    batch = boto3.client("batch")
    jd = job_definition(["python", "-c", "pass"])
    job_id = batch.submit_job(jobName="waits", jobQueue=batch_env, jobDefinition=jd)["jobId"]
    assert batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "RUNNABLE"
    batch.cancel_job(jobId=job_id, reason="no capacity")
    job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    assert job["status"] == "FAILED" and job["statusReason"] == "no capacity"


# --------------------------------------------------------------------------- BatchOperator
def _operator(task_id, queue, jd, **kwargs):
    from airflow.providers.amazon.aws.operators.batch import BatchOperator

    return BatchOperator(
        task_id=task_id, job_name=task_id, job_queue=queue, job_definition=jd, **kwargs
    )


def test_batch_operator_succeeds(
    batch_env, job_definition, local_batch_runner, fast_batch_polling, tmp_path
):
    out = tmp_path / "op.txt"
    jd = job_definition(["python", "-c", "import os; open(os.environ['OUT'], 'w').write('ran')"])
    op = _operator(
        "op_ok",
        batch_env,
        jd,
        container_overrides={"environment": [{"name": "OUT", "value": str(out)}]},
    )
    ti = FakeTI()
    start = time.monotonic()
    job_id = op.execute({"ti": ti})
    assert time.monotonic() - start < 15
    assert out.read_text() == "ran"
    assert local_batch_runner.job(job_id).status == "SUCCEEDED"
    assert "batch_job_details" in ti.xcom


def test_batch_operator_raises_on_failure(
    batch_env, job_definition, local_batch_runner, fast_batch_polling
):
    from airflow.providers.common.compat.sdk import AirflowException

    jd = job_definition(["python", "-c", "raise SystemExit(3)"])
    op = _operator("op_fail", batch_env, jd)
    with pytest.raises(AirflowException, match="failed") as info:
        op.execute({"ti": FakeTI()})
    assert "'exitCode': 3" in str(info.value)
    assert local_batch_runner.jobs[0].exit_code == 3


def test_airflow_home_is_not_the_users():
    import os

    assert Path(os.environ["AIRFLOW_HOME"]) != Path.home() / "airflow"
