"""The AWS IoT Jobs service end to end: boto3 `iot` creates and inspects jobs; the AWS IoT Device SDK
v2's IotJobsClient over mutual TLS runs a job agent on two things of a group while boto3
`iot-jobs-data` drives the third over HTTP; answers reach the requesting paho client without a
subscription and nobody else; every rejection code; a step timeout on a shortened minute; CancelJob
with and without force; a restart in the middle of a job; templates; and the five job entries,
checked with `iotemu check-entries`."""
import json
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from conftest import Emulator, check_entries, error_of, iotemu_binary, sdk_device, wait_until

ACCOUNT = "arn:aws:iot:us-east-1:123456789012"


def thing_arn(name):
    return f"{ACCOUNT}:thing/{name}"


def group_arn(name):
    return f"{ACCOUNT}:thinggroup/{name}"


def entries(emulator, event):
    return [e for e in emulator.entries() if e["eventType"] == event]


def parse(payload):
    try:
        return json.loads(payload)
    except ValueError:
        return payload


class Device:
    """A paho client on the plain port that keeps every message it gets, subscribed or not."""

    def __init__(self, emulator, client_id, subscribe=None):
        host, port = emulator.mqtt.rsplit(":", 1)
        self.messages = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, parse(m.payload)))
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert wait_until(self.client.is_connected)
        if subscribe:
            subscribed = threading.Event()
            self.client.on_subscribe = lambda *a: subscribed.set()
            self.client.subscribe(subscribe, qos=1)
            assert subscribed.wait(5)

    def payloads(self, topic):
        return [p for t, p in self.messages if t == topic]

    def request(self, topic, payload, answer=None):
        """Publishes and waits for the one answer on `answer` (default: accepted or rejected)."""
        count = len(self.messages)
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self.client.publish(topic, body, qos=1).wait_for_publish(timeout=5)
        wanted = (answer,) if answer else (f"{topic}/accepted", f"{topic}/rejected")
        assert wait_until(lambda: any(t in wanted for t, _ in self.messages[count:])), (topic, self.messages)
        return next((t, p) for t, p in self.messages[count:] if t in wanted)

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def make_things(iot, *names, group=None):
    for name in names:
        iot.create_thing(thingName=name)
    if group:
        iot.create_thing_group(thingGroupName=group)
        for name in names:
            iot.add_thing_to_thing_group(thingGroupName=group, thingName=name)


def test_sdk_agents_and_an_http_device_run_a_group_job_to_completion(emulator, iot, data_dir, tmp_path):
    from awscrt import mqtt as crt_mqtt
    from awsiot import iotjobs, mqtt_connection_builder

    make_things(iot, "agent-1", "agent-2", "http-3", group="fleet")
    port = int(emulator.mqtts.rsplit(":", 1)[1])
    qos = crt_mqtt.QoS.AT_LEAST_ONCE
    done = {}

    def agent(thing):
        subprocess.run([iotemu_binary(), "certs", "create-device", "--thing", thing, "--out", str(tmp_path),
                        "--data-dir", str(data_dir)], check=True, capture_output=True)
        connection = mqtt_connection_builder.mtls_from_path(
            endpoint="localhost", port=port, cert_filepath=str(tmp_path / f"{thing}.cert.pem"),
            pri_key_filepath=str(tmp_path / f"{thing}.private.key"), ca_filepath=str(tmp_path / "ca.pem"),
            client_id=thing, clean_session=True, keep_alive_secs=30)
        connection.connect().result(timeout=10)
        jobs = iotjobs.IotJobsClient(connection)
        finished = threading.Event()
        seen = {"documents": [], "statuses": []}

        def on_next(event):
            if event.execution and event.execution.status == "QUEUED":
                jobs.publish_start_next_pending_job_execution(iotjobs.StartNextPendingJobExecutionRequest(
                    thing_name=thing, client_token=f"{thing}-start", step_timeout_in_minutes=10), qos)

        def on_started(response):
            execution = response.execution
            if execution is None:
                return
            seen["documents"].append(execution.job_document)
            seen["statuses"].append(execution.status)
            jobs.publish_update_job_execution(iotjobs.UpdateJobExecutionRequest(
                thing_name=thing, job_id=execution.job_id, status="IN_PROGRESS", client_token=f"{thing}-progress",
                expected_version=execution.version_number, status_details={"step": "downloading"},
                include_job_execution_state=True), qos)

        def on_updated(response):
            state = response.execution_state
            seen["statuses"].append(state.status)
            if state.status == "IN_PROGRESS":
                jobs.publish_update_job_execution(iotjobs.UpdateJobExecutionRequest(
                    thing_name=thing, job_id=seen.get("job", "fleet-upgrade"), status="SUCCEEDED",
                    client_token=f"{thing}-done", expected_version=state.version_number,
                    include_job_execution_state=True), qos)
            else:
                finished.set()

        futures = [
            jobs.subscribe_to_next_job_execution_changed_events(
                iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=thing), qos, on_next)[0],
            jobs.subscribe_to_start_next_pending_job_execution_accepted(
                iotjobs.StartNextPendingJobExecutionSubscriptionRequest(thing_name=thing), qos, on_started)[0],
            jobs.subscribe_to_update_job_execution_accepted(
                iotjobs.UpdateJobExecutionSubscriptionRequest(thing_name=thing, job_id="fleet-upgrade"), qos,
                on_updated)[0],
        ]
        for f in futures:
            f.result(timeout=10)
        done[thing] = (connection, finished, seen)

    agent("agent-1")
    agent("agent-2")
    document = {"operation": "upgrade", "version": "2.0"}
    created = iot.create_job(jobId="fleet-upgrade", targets=[group_arn("fleet")], document=json.dumps(document),
                             description="upgrade the fleet")
    assert created["jobArn"] == f"{ACCOUNT}:job/fleet-upgrade"

    # The third thing over HTTP, with iot-jobs-data.
    data = emulator.client("iot-jobs-data")
    pending = data.get_pending_job_executions(thingName="http-3")
    assert [j["jobId"] for j in pending["queuedJobs"]] == ["fleet-upgrade"] and pending["inProgressJobs"] == []
    assert isinstance(pending["queuedJobs"][0]["queuedAt"], int), "epoch seconds over HTTP"
    started = data.start_next_pending_job_execution(thingName="http-3", statusDetails={"via": "http"})["execution"]
    assert started["status"] == "IN_PROGRESS" and started["versionNumber"] == 2
    assert json.loads(started["jobDocument"]) == document, "a JSON string over HTTP"
    updated = data.update_job_execution(thingName="http-3", jobId="fleet-upgrade", status="SUCCEEDED",
                                        expectedVersion=2, includeJobExecutionState=True, includeJobDocument=True)
    assert updated["executionState"]["status"] == "SUCCEEDED" and updated["executionState"]["versionNumber"] == 3
    assert json.loads(updated["jobDocument"]) == document
    described = data.describe_job_execution(thingName="http-3", jobId="fleet-upgrade")["execution"]
    assert described["status"] == "SUCCEEDED" and described["statusDetails"] == {"via": "http"}

    for thing in ("agent-1", "agent-2"):
        connection, finished, seen = done[thing]
        assert finished.wait(15), (thing, seen)
        assert seen["documents"] == [document], "an embedded JSON object over MQTT"
        assert seen["statuses"] == ["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"]
        connection.disconnect().result(timeout=10)

    assert wait_until(lambda: iot.describe_job(jobId="fleet-upgrade")["job"]["status"] == "COMPLETED")
    job = iot.describe_job(jobId="fleet-upgrade")["job"]
    assert job["jobProcessDetails"]["numberOfSucceededThings"] == 3
    assert job["jobProcessDetails"]["numberOfQueuedThings"] == 0 and "completedAt" in job
    assert job["targetSelection"] == "SNAPSHOT" and job["description"] == "upgrade the fleet"
    execution = iot.describe_job_execution(jobId="fleet-upgrade", thingName="agent-1")["execution"]
    assert execution["status"] == "SUCCEEDED" and execution["statusDetails"]["detailsMap"] == {"step": "downloading"}
    assert execution["thingArn"] == thing_arn("agent-1")
    things = iot.list_job_executions_for_job(jobId="fleet-upgrade")["executionSummaries"]
    assert sorted(t["thingArn"] for t in things) == [thing_arn(n) for n in ("agent-1", "agent-2", "http-3")]
    assert iot.list_job_executions_for_thing(thingName="http-3")["executionSummaries"][0]["jobId"] == "fleet-upgrade"
    assert json.loads(iot.get_job_document(jobId="fleet-upgrade")["document"]) == document
    assert [j["jobId"] for j in iot.list_jobs(status="COMPLETED")["jobs"]] == ["fleet-upgrade"]

    assert wait_until(lambda: len(entries(emulator, "ReportFinalJobExecutionCount")) == 1)
    (final,) = entries(emulator, "ReportFinalJobExecutionCount")
    assert final["logLevel"] == "INFO" and final["jobId"] == "fleet-upgrade"
    assert final["details"] == ("Job fleet-upgrade completed. QUEUED job execution count: 0 IN_PROGRESS job execution "
                                "count: 0 FAILED job execution count: 0 SUCCEEDED job execution count: 3 CANCELED job "
                                "execution count: 0 REJECTED job execution count: 0 REMOVED job execution count: 0")
    updates = [e for e in entries(emulator, "UpdateJobExecution") if e["clientId"] == "agent-1"]
    assert [e["details"] for e in updates] == [
        "The destination status is IN_PROGRESS. The request status is SUCCESS.",
        "The destination status is SUCCEEDED. The request status is SUCCESS."]
    assert [e["versionNumber"] for e in updates] == ["2", "3"] and updates[0]["clientToken"] == "agent-1-progress"
    assert updates[0]["protocol"] == "MQTT" and updates[0]["topicName"] == "$aws/things/agent-1/jobs/fleet-upgrade/update"
    http_updates = [e for e in entries(emulator, "UpdateJobExecution") if e["protocol"] == "HTTP"]
    assert http_updates and http_updates[0]["topicName"] == "$aws/things/http-3/jobs/fleet-upgrade/update"
    check_entries(emulator.log_file, "StartNextPendingJobExecution", "UpdateJobExecution", "GetPendingJobExecution",
                  "DescribeJobExecution", "ReportFinalJobExecutionCount")


def test_answers_reach_the_requester_alone_and_every_rejection_has_its_code(emulator, iot):
    make_things(iot, "lamp")
    iot.create_job(jobId="j1", targets=[thing_arn("lamp")], document='{"a": 1}')
    iot.create_job(jobId="j2", targets=[thing_arn("lamp")], document='{"b": 2}')
    device = Device(emulator, "lamp-client")  # subscribes to nothing
    other = Device(emulator, "watcher", subscribe="$aws/things/lamp/jobs/#")
    prefix = "$aws/things/lamp/jobs"

    topic, answer = device.request(f"{prefix}/get", {"clientToken": "t-get"})
    assert topic == f"{prefix}/get/accepted" and answer["clientToken"] == "t-get"
    assert [j["jobId"] for j in answer["queuedJobs"]] == ["j1", "j2"] and answer["inProgressJobs"] == []
    assert isinstance(answer["timestamp"], int) and answer["timestamp"] < 10_000_000_000, "epoch seconds"

    topic, answer = device.request(f"{prefix}/$next/get", {"clientToken": "t-next"})
    assert topic.endswith("/accepted") and answer["execution"]["jobId"] == "j1"
    assert answer["execution"]["jobDocument"] == {"a": 1} and answer["execution"]["thingName"] == "lamp"

    topic, answer = device.request(f"{prefix}/start-next", {"clientToken": "t-start"})
    assert answer["execution"]["status"] == "IN_PROGRESS" and answer["execution"]["versionNumber"] == 2

    def rejected(rest, payload, code):
        topic, answer = device.request(f"{prefix}/{rest}", payload)
        assert topic == f"{prefix}/{rest}/rejected", (rest, answer)
        assert answer["code"] == code, answer
        return answer

    rejected("get", b"{not json", "InvalidJson")
    rejected("j1/delete", {"clientToken": "x"}, "InvalidTopic")
    rejected("nope/get", {"clientToken": "t-missing"}, "ResourceNotFound")
    rejected("j1/update", {"status": "DONE", "clientToken": "x"}, "InvalidRequest")
    rejected("j1/update", {"status": "SUCCEEDED", "statusDetails": {"k": 5}}, "InvalidRequest")
    mismatch = rejected("j1/update", {"status": "SUCCEEDED", "expectedVersion": 1, "clientToken": "t-v"},
                        "VersionMismatch")
    assert mismatch["executionState"] == {"status": "IN_PROGRESS", "versionNumber": 2}
    assert mismatch["clientToken"] == "t-v"
    topic, answer = device.request(f"{prefix}/j1/update", {"status": "FAILED", "expectedVersion": 2,
                                                           "includeJobExecutionState": True, "clientToken": "t-f"})
    assert answer["executionState"]["status"] == "FAILED" and answer["clientToken"] == "t-f"
    transition = rejected("j1/update", {"status": "IN_PROGRESS"}, "InvalidStateTransition")
    assert transition["executionState"]["status"] == "FAILED"
    iot.cancel_job(jobId="j2")
    rejected("j2/update", {"status": "IN_PROGRESS"}, "TerminalStateReached")

    # The watcher saw the requests (routed as any message) and notifications, never an answer.
    time.sleep(0.3)
    watched = [t for t, _ in other.messages]
    assert not [t for t in watched if t.endswith("/accepted") or t.endswith("/rejected")], watched
    assert f"{prefix}/notify-next" in watched and f"{prefix}/notify" in watched
    device.stop()
    other.stop()

    failures = [e for e in emulator.entries() if e["eventType"].endswith("JobExecution") and e["status"] == "Failure"]
    assert {e["reason"] for e in failures} == {"InvalidJson", "ResourceNotFound", "InvalidRequest", "VersionMismatch",
                                               "InvalidStateTransition", "TerminalStateReached"}
    assert not [e for e in emulator.entries() if e.get("topicName") == f"{prefix}/j1/delete"
                and e["eventType"].endswith("JobExecution")], "a topic naming no operation writes no job entry"
    assert all(e["logLevel"] == "ERROR" and "The request status is REJECTED." in e["details"] for e in failures)
    # The answer's Publish-Out goes to the requester with the request's traceId; nobody else has one.
    publish_in = [e for e in entries(emulator, "Publish-In")
                  if e["topicName"] == f"{prefix}/get" and e["clientId"] == "lamp-client"][0]
    outs = [e for e in entries(emulator, "Publish-Out") if e["topicName"] == f"{prefix}/get/accepted"]
    assert [(e["clientId"], e["traceId"]) for e in outs] == [("lamp-client", publish_in["traceId"])]
    (get_entry,) = [e for e in entries(emulator, "GetPendingJobExecution") if e["clientToken"] == "t-get"]
    assert get_entry["traceId"] == publish_in["traceId"] and get_entry["logLevel"] == "DEBUG"
    describe = [e for e in entries(emulator, "DescribeJobExecution") if e["clientToken"] == "t-next"]
    assert describe[0]["details"] == "The request status is SUCCESS." and describe[0]["jobId"] == "$next"
    check_entries(emulator.log_file, "GetPendingJobExecution", "DescribeJobExecution", "StartNextPendingJobExecution",
                  "UpdateJobExecution")


def test_a_step_timeout_fires_on_a_shortened_minute(data_dir, tmp_path):
    config = tmp_path / "fast.toml"
    config.write_text("[jobs]\nminute_seconds = 1\n")
    emulator = Emulator(data_dir, "--config", str(config))
    try:
        iot = emulator.client("iot")
        make_things(iot, "slow")
        iot.create_job(jobId="slow-job", targets=[thing_arn("slow")], document="{}",
                       timeoutConfig={"inProgressTimeoutInMinutes": 30})
        data = emulator.client("iot-jobs-data")
        started = data.start_next_pending_job_execution(thingName="slow", stepTimeoutInMinutes=1)["execution"]
        assert 0 < started["approximateSecondsBeforeTimedOut"] <= 60
        assert wait_until(lambda: iot.describe_job_execution(jobId="slow-job", thingName="slow")["execution"]
                          ["status"] == "TIMED_OUT", timeout=5)
        assert wait_until(lambda: iot.describe_job(jobId="slow-job")["job"]["status"] == "COMPLETED")
        assert iot.describe_job(jobId="slow-job")["job"]["jobProcessDetails"]["numberOfTimedOutThings"] == 1
        code = error_of(data.update_job_execution, thingName="slow", jobId="slow-job", status="SUCCEEDED")
        assert code == ("TerminalStateException", 410)
    finally:
        emulator.stop()


def test_cancel_job_with_and_without_force(emulator, iot):
    make_things(iot, "c1", "c2", group="cancel-group")
    iot.create_job(jobId="to-cancel", targets=[group_arn("cancel-group")], document="{}")
    data = emulator.client("iot-jobs-data")
    data.start_next_pending_job_execution(thingName="c1")

    iot.cancel_job(jobId="to-cancel", reasonCode="BAD_BUILD", comment="stop it")
    job = iot.describe_job(jobId="to-cancel")["job"]
    assert job["status"] == "CANCELED" and job["forceCanceled"] is False
    assert job["reasonCode"] == "BAD_BUILD" and job["comment"] == "stop it"
    status = lambda thing: iot.describe_job_execution(jobId="to-cancel", thingName=thing)["execution"]["status"]
    assert (status("c1"), status("c2")) == ("IN_PROGRESS", "CANCELED")
    assert error_of(iot.delete_job, jobId="to-cancel") == ("InvalidStateTransitionException", 409)

    iot.cancel_job(jobId="to-cancel", force=True)
    assert iot.describe_job(jobId="to-cancel")["job"]["forceCanceled"] is True
    execution = iot.describe_job_execution(jobId="to-cancel", thingName="c1")["execution"]
    assert execution["status"] == "CANCELED" and execution["forceCanceled"] is True
    assert error_of(data.update_job_execution, thingName="c1", jobId="to-cancel",
                    status="SUCCEEDED") == ("TerminalStateException", 410)
    iot.delete_job(jobId="to-cancel")
    assert error_of(iot.describe_job, jobId="to-cancel") == ("ResourceNotFoundException", 404)

    # Executions one by one.
    iot.create_job(jobId="one-by-one", targets=[group_arn("cancel-group")], document="{}")
    data.start_next_pending_job_execution(thingName="c1")
    assert error_of(iot.cancel_job_execution, jobId="one-by-one", thingName="c1") == \
        ("InvalidStateTransitionException", 409)
    assert error_of(iot.cancel_job_execution, jobId="one-by-one", thingName="c2", expectedVersion=9) == \
        ("VersionConflictException", 409)
    iot.cancel_job_execution(jobId="one-by-one", thingName="c2")
    iot.cancel_job_execution(jobId="one-by-one", thingName="c1", force=True)
    iot.delete_job_execution(jobId="one-by-one", thingName="c2", executionNumber=1)
    assert error_of(iot.describe_job_execution, jobId="one-by-one", thingName="c2") == \
        ("ResourceNotFoundException", 404)


def test_a_restart_in_the_middle_of_a_job_loses_no_execution_state(data_dir):
    emulator = Emulator(data_dir)
    iot = emulator.client("iot")
    make_things(iot, "r1", "r2", group="restart")
    iot.create_job(jobId="survivor", targets=[group_arn("restart")], document='{"x": 1}')
    data = emulator.client("iot-jobs-data")
    data.start_next_pending_job_execution(thingName="r1", statusDetails={"progress": "50%"})
    data.update_job_execution(thingName="r2", jobId="survivor", status="SUCCEEDED")
    emulator.process.kill()  # no goodbye: what was acknowledged must be in the store
    emulator.process.wait(timeout=10)

    emulator = Emulator(data_dir)
    try:
        iot = emulator.client("iot")
        data = emulator.client("iot-jobs-data")
        execution = data.describe_job_execution(thingName="r1", jobId="survivor")["execution"]
        assert execution["status"] == "IN_PROGRESS" and execution["versionNumber"] == 2
        assert execution["statusDetails"] == {"progress": "50%"}
        assert iot.describe_job(jobId="survivor")["job"]["jobProcessDetails"]["numberOfSucceededThings"] == 1
        data.update_job_execution(thingName="r1", jobId="survivor", status="SUCCEEDED", expectedVersion=2)
        assert wait_until(lambda: iot.describe_job(jobId="survivor")["job"]["status"] == "COMPLETED")
    finally:
        emulator.stop()


def test_templates_errors_continuous_jobs_and_reset(emulator, iot):
    make_things(iot, "t1", group="later")
    template = iot.create_job_template(jobTemplateId="tpl", description="from a template",
                                       document='{"v": "${aws:iot:parameter:version}"}',
                                       timeoutConfig={"inProgressTimeoutInMinutes": 5})
    assert template["jobTemplateArn"] == f"{ACCOUNT}:jobtemplate/tpl"
    assert iot.describe_job_template(jobTemplateId="tpl")["timeoutConfig"] == {"inProgressTimeoutInMinutes": 5}
    assert [t["jobTemplateId"] for t in iot.list_job_templates()["jobTemplates"]] == ["tpl"]
    iot.create_job(jobId="from-tpl", targets=[group_arn("later")], jobTemplateArn=template["jobTemplateArn"],
                   documentParameters={"version": "3"}, targetSelection="CONTINUOUS")
    data = emulator.client("iot-jobs-data")
    execution = data.describe_job_execution(thingName="t1", jobId="from-tpl")["execution"]
    assert json.loads(execution["jobDocument"]) == {"v": "3"}
    assert json.loads(iot.get_job_document(jobId="from-tpl")["document"]) == {"v": "3"}
    raw = iot.get_job_document(jobId="from-tpl", beforeSubstitution=True)["document"]
    assert raw == '{"v": "${aws:iot:parameter:version}"}'

    # A continuous job reaches a thing added to its group later.
    iot.create_thing(thingName="t2")
    iot.add_thing_to_thing_group(thingGroupName="later", thingName="t2")
    assert wait_until(lambda: data.get_pending_job_executions(thingName="t2")["queuedJobs"])

    assert error_of(iot.create_job, jobId="from-tpl", targets=[thing_arn("t1")], document="{}") == \
        ("ResourceAlreadyExistsException", 409)
    assert error_of(iot.create_job, jobId="bad", targets=[thing_arn("ghost")], document="{}") == \
        ("ResourceNotFoundException", 404)
    assert error_of(iot.create_job, jobId="bad", targets=[thing_arn("t1")], document="{oops") == \
        ("InvalidRequestException", 400)
    assert error_of(iot.create_job_template, jobTemplateId="tpl", description="d", document="{}") == \
        ("ConflictException", 409)
    assert error_of(data.describe_job_execution, thingName="t1", jobId="nope") == ("ResourceNotFoundException", 404)

    iot.update_job(jobId="from-tpl", description="now described", timeoutConfig={"inProgressTimeoutInMinutes": 9})
    job = iot.describe_job(jobId="from-tpl")["job"]
    assert job["description"] == "now described" and job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 9}
    assert job["jobTemplateArn"] == template["jobTemplateArn"] and job["targetSelection"] == "CONTINUOUS"
    assert [j["jobId"] for j in iot.list_jobs(targetSelection="CONTINUOUS", thingGroupName="later")["jobs"]] == \
        ["from-tpl"]
    assert iot.list_jobs(status="COMPLETED")["jobs"] == []

    iot.delete_job_template(jobTemplateId="tpl")
    assert error_of(iot.describe_job_template, jobTemplateId="tpl") == ("ResourceNotFoundException", 404)
    import urllib.request
    urllib.request.urlopen(urllib.request.Request(f"{emulator.endpoint}/_iotemu/reset", method="POST"))
    assert iot.list_jobs()["jobs"] == []


def test_an_answer_needs_iot_receive_like_any_message(emulator, iot, tmp_path):
    from test_policy_enforcement import Device as CertDevice, allow, deny, policy

    make_things(iot, "guarded")
    iot.create_job(jobId="g", targets=[thing_arn("guarded")], document="{}")
    prefix = "$aws/things/guarded/jobs"
    device = CertDevice(emulator, iot, tmp_path, policy(
        allow("iot:Connect", f"{ACCOUNT}:client/guarded"),
        allow(["iot:Publish", "iot:Receive"], f"{ACCOUNT}:topic/{prefix}/*"),
        deny("iot:Receive", f"{ACCOUNT}:topic/{prefix}/get/accepted")))
    client = device.client("guarded").connect()
    assert client.connected.wait(10)
    client.publish(f"{prefix}/get")
    client.publish(f"{prefix}/g/get")
    assert wait_until(lambda: f"{prefix}/g/get/accepted" in client.messages)
    time.sleep(0.2)
    assert f"{prefix}/get/accepted" not in client.messages, "iot:Receive denied: the answer is not sent"
    client.stop()
    assert entries(emulator, "GetPendingJobExecution")[0]["status"] == "Success"


def test_the_sdk_v2_request_response_jobs_client(emulator, iot, data_dir, tmp_path):
    """IotJobsClientV2 correlates answers by clientToken on wildcard subscriptions (`.../update/+`)."""
    import awscrt.mqtt_request_response as rr
    import awsiot
    from awsiot import iotjobs

    thing = "v2-device"
    make_things(iot, thing)
    connection = sdk_device(emulator, data_dir, tmp_path, thing)
    jobs = iotjobs.IotJobsClientV2(connection, rr.ClientOptions(
        max_request_response_subscriptions=4, max_streaming_subscriptions=2, operation_timeout_in_seconds=10))
    events = []
    subscribed = threading.Event()
    stream = jobs.create_next_job_execution_changed_stream(
        iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=thing),
        awsiot.ServiceStreamOptions(
            incoming_event_listener=events.append,
            subscription_status_listener=lambda e: subscribed.set()))
    stream.open()
    assert subscribed.wait(10)

    iot.create_job(jobId="v2-job", targets=[thing_arn(thing)], document='{"step": "one"}')
    assert wait_until(lambda: events, timeout=10)
    assert events[0].execution.job_id == "v2-job" and events[0].execution.job_document == {"step": "one"}

    pending = jobs.get_pending_job_executions(
        iotjobs.GetPendingJobExecutionsRequest(thing_name=thing)).result(timeout=10)
    assert [j.job_id for j in pending.queued_jobs] == ["v2-job"]
    started = jobs.start_next_pending_job_execution(
        iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing)).result(timeout=10)
    assert started.execution.status == "IN_PROGRESS" and started.execution.version_number == 2
    done = jobs.update_job_execution(iotjobs.UpdateJobExecutionRequest(
        thing_name=thing, job_id="v2-job", status="SUCCEEDED", expected_version=2,
        include_job_execution_state=True)).result(timeout=10)
    assert done.execution_state.status == "SUCCEEDED"
    described = jobs.describe_job_execution(
        iotjobs.DescribeJobExecutionRequest(thing_name=thing, job_id="v2-job")).result(timeout=10)
    assert described.execution.status == "SUCCEEDED"
    with pytest.raises(awsiot.V2ServiceException) as refused:
        jobs.update_job_execution(iotjobs.UpdateJobExecutionRequest(
            thing_name=thing, job_id="v2-job", status="IN_PROGRESS")).result(timeout=10)
    assert refused.value.modeled_error.code == "InvalidStateTransition"
    assert refused.value.modeled_error.execution_state.status == "SUCCEEDED"
    connection.disconnect().result(timeout=10)
    assert wait_until(lambda: iot.describe_job(jobId="v2-job")["job"]["status"] == "COMPLETED")
