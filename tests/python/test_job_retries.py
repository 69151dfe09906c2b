"""Job execution retries (`jobs-configurations-details.md`, "Job execution retry configuration"):
a thing whose execution ends FAILED (its device says so over MQTT) or TIMED_OUT (a timer on a
shortened minute) gets a new QUEUED execution of the job with the next executionNumber, announced
on `jobs/notify` and `jobs/notify-next`, as long as `jobExecutionsRetryConfig` allows; then the
last one stays. boto3 sees every execution by its number, the summaries' `retryAttempt`, and
the job's counts by thing; `jobExecutionsRetryConfig` is checked as botocore's model says."""
import json
import os
import subprocess

from conftest import Emulator, error_of, wait_until
from test_jobs import Device, make_things, thing_arn


def test_a_failed_execution_is_retried_until_the_retries_run_out(emulator, iot):
    make_things(iot, "r1")
    retry = {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]}
    iot.create_job(jobId="fw", targets=[thing_arn("r1")], document='{"op": "flash"}', jobExecutionsRetryConfig=retry)
    assert iot.describe_job(jobId="fw")["job"]["jobExecutionsRetryConfig"] == retry
    watcher = Device(emulator, "r1-watch", subscribe="$aws/things/r1/jobs/#")
    device = Device(emulator, "r1")
    prefix = "$aws/things/r1/jobs"

    for number in (1, 2, 3):
        execution = iot.describe_job_execution(jobId="fw", thingName="r1")["execution"]
        assert (execution["executionNumber"], execution["status"]) == (number, "QUEUED")
        seen = len(watcher.messages)
        topic, answer = device.request(f"{prefix}/fw/update", {"status": "FAILED", "includeJobExecutionState": True})
        assert topic == f"{prefix}/fw/update/accepted", answer
        assert answer["executionState"]["status"] == "FAILED", "the answer is the execution the device ended"
        if number < 3:
            # The retry: a new QUEUED execution, announced to the thing.
            assert wait_until(lambda: any(t == f"{prefix}/notify-next" for t, _ in watcher.messages[seen:]))
            nxt = next(p for t, p in watcher.messages[seen:] if t == f"{prefix}/notify-next")
            assert nxt["execution"]["jobId"] == "fw" and nxt["execution"]["status"] == "QUEUED"
            assert nxt["execution"]["executionNumber"] == number + 1 and nxt["execution"]["jobDocument"] == {"op": "flash"}
            notify = next(p for t, p in watcher.messages[seen:] if t == f"{prefix}/notify")
            assert [(j["jobId"], j["executionNumber"]) for j in notify["jobs"]["QUEUED"]] == [("fw", number + 1)]
            details = iot.describe_job(jobId="fw")["job"]["jobProcessDetails"]
            assert (details["numberOfQueuedThings"], details["numberOfFailedThings"]) == (1, 0), \
                "the thing counts by its current execution"
            assert iot.describe_job(jobId="fw")["job"]["status"] == "IN_PROGRESS"

    # Two retries made: the third FAILED stays, nothing is pending and the job completes.
    assert wait_until(lambda: any(t == f"{prefix}/notify-next" and "execution" not in p
                                  for t, p in watcher.messages))
    current = iot.describe_job_execution(jobId="fw", thingName="r1")["execution"]
    assert (current["executionNumber"], current["status"]) == (3, "FAILED")
    first = iot.describe_job_execution(jobId="fw", thingName="r1", executionNumber=1)["execution"]
    assert (first["executionNumber"], first["status"]) == (1, "FAILED")
    job = iot.describe_job(jobId="fw")["job"]
    assert job["status"] == "COMPLETED"
    assert (job["jobProcessDetails"]["numberOfFailedThings"], job["jobProcessDetails"]["numberOfQueuedThings"]) == (1, 0)
    summaries = iot.list_job_executions_for_thing(thingName="r1")["executionSummaries"]
    assert [(s["jobId"], s["jobExecutionSummary"]["executionNumber"], s["jobExecutionSummary"]["retryAttempt"],
             s["jobExecutionSummary"]["status"]) for s in summaries] == \
        [("fw", 1, 0, "FAILED"), ("fw", 2, 1, "FAILED"), ("fw", 3, 2, "FAILED")]
    by_job = iot.list_job_executions_for_job(jobId="fw", maxResults=2)
    assert [s["jobExecutionSummary"]["executionNumber"] for s in by_job["executionSummaries"]] == [1, 2]
    rest = iot.list_job_executions_for_job(jobId="fw", maxResults=2, nextToken=by_job["nextToken"])
    assert [s["jobExecutionSummary"]["executionNumber"] for s in rest["executionSummaries"]] == [3]
    _, answer = device.request(f"{prefix}/fw/get", {"executionNumber": 2})
    assert (answer["execution"]["executionNumber"], answer["execution"]["status"]) == (2, "FAILED")

    # The AWS CLI reads an earlier execution by its number too.
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    aws = ["aws", "--endpoint-url", emulator.endpoint, "--output", "json", "iot"]
    out = subprocess.run(aws + ["describe-job-execution", "--job-id", "fw", "--thing-name", "r1",
                                "--execution-number", "2"], env=env, check=True, capture_output=True, text=True)
    assert json.loads(out.stdout)["execution"]["executionNumber"] == 2
    device.stop()
    watcher.stop()


def test_a_timed_out_execution_is_retried_then_stays_timed_out(data_dir, tmp_path):
    config = tmp_path / "fast.toml"
    config.write_text("[jobs]\nminute_seconds = 1\n")
    emulator = Emulator(data_dir, "--config", str(config))
    try:
        iot = emulator.client("iot")
        make_things(iot, "r2")
        iot.create_job(jobId="slow", targets=[thing_arn("r2")], document="{}",
                       timeoutConfig={"inProgressTimeoutInMinutes": 1},
                       jobExecutionsRetryConfig={"criteriaList": [{"failureType": "TIMED_OUT", "numberOfRetries": 1},
                                                                  {"failureType": "FAILED", "numberOfRetries": 0}]})
        watcher = Device(emulator, "r2-watch", subscribe="$aws/things/r2/jobs/notify-next")
        device = Device(emulator, "r2")
        prefix = "$aws/things/r2/jobs"

        _, started = device.request(f"{prefix}/start-next", {})
        assert (started["execution"]["executionNumber"], started["execution"]["status"]) == (1, "IN_PROGRESS")
        assert wait_until(lambda: any(p.get("execution", {}).get("executionNumber") == 2
                                      for p in watcher.payloads(f"{prefix}/notify-next")), timeout=10)
        first = iot.describe_job_execution(jobId="slow", thingName="r2", executionNumber=1)["execution"]
        assert first["status"] == "TIMED_OUT"
        current = iot.describe_job_execution(jobId="slow", thingName="r2")["execution"]
        assert (current["executionNumber"], current["status"]) == (2, "QUEUED")

        _, started = device.request(f"{prefix}/start-next", {})
        assert (started["execution"]["executionNumber"], started["execution"]["status"]) == (2, "IN_PROGRESS")
        assert wait_until(lambda: iot.describe_job(jobId="slow")["job"]["status"] == "COMPLETED", timeout=10)
        current = iot.describe_job_execution(jobId="slow", thingName="r2")["execution"]
        assert (current["executionNumber"], current["status"]) == (2, "TIMED_OUT"), "one retry, then it stays"
        details = iot.describe_job(jobId="slow")["job"]["jobProcessDetails"]
        assert (details["numberOfTimedOutThings"], details["numberOfQueuedThings"]) == (1, 0)
        statuses = [(s["jobExecutionSummary"]["executionNumber"], s["jobExecutionSummary"]["status"])
                    for s in iot.list_job_executions_for_thing(thingName="r2", jobId="slow")["executionSummaries"]]
        assert statuses == [(1, "TIMED_OUT"), (2, "TIMED_OUT")]
        device.stop()
        watcher.stop()
    finally:
        emulator.stop()


def test_retry_configurations_are_checked_and_can_only_be_turned_off(emulator, iot):
    make_things(iot, "r3")

    def refused(criteria):
        return error_of(iot.create_job, jobId="bad", targets=[thing_arn("r3")], document="{}",
                        jobExecutionsRetryConfig={"criteriaList": criteria})

    assert refused([{"failureType": "FAILED", "numberOfRetries": 11}]) == ("InvalidRequestException", 400)
    try:
        iot.create_job(jobId="bad", targets=[thing_arn("r3")], document="{}",
                       jobExecutionsRetryConfig={"criteriaList": [{"failureType": "REJECTED", "numberOfRetries": 1}]})
        raise AssertionError("REJECTED is not retryable")
    except iot.exceptions.InvalidRequestException as e:
        assert e.response["Error"]["Message"] == (
            "1 validation error detected: Value 'REJECTED' at 'jobExecutionsRetryConfig.criteriaList.1.member."
            "failureType' failed to satisfy constraint: Member must satisfy enum value set: [FAILED, TIMED_OUT, ALL]")
    assert refused([{"failureType": "FAILED", "numberOfRetries": 6},
                    {"failureType": "TIMED_OUT", "numberOfRetries": 5}])[0] == "InvalidRequestException"
    assert error_of(iot.create_job_template, jobTemplateId="bad", description="d", document="{}",
                    jobExecutionsRetryConfig={"criteriaList": [{"failureType": "ALL", "numberOfRetries": 12}]}) == \
        ("InvalidRequestException", 400)

    retry = {"criteriaList": [{"failureType": "ALL", "numberOfRetries": 3}]}
    iot.create_job(jobId="ok", targets=[thing_arn("r3")], document="{}", jobExecutionsRetryConfig=retry)
    # After creation the retries can only be set to 0 (job-configurations-api.md).
    assert error_of(iot.update_job, jobId="ok", jobExecutionsRetryConfig=retry)[0] == "InvalidRequestException"
    off = {"criteriaList": [{"failureType": "ALL", "numberOfRetries": 0}]}
    iot.update_job(jobId="ok", jobExecutionsRetryConfig=off)
    assert iot.describe_job(jobId="ok")["job"]["jobExecutionsRetryConfig"] == off
    data = emulator.client("iot-jobs-data")
    data.update_job_execution(thingName="r3", jobId="ok", status="FAILED")
    current = iot.describe_job_execution(jobId="ok", thingName="r3")["execution"]
    assert (current["executionNumber"], current["status"]) == (1, "FAILED"), "no retry once turned off"
