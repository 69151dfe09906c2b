"""Rule actions that reach other AWS services, end to end against moto's server (`moto[server]`
from PyPI) on a loopback port: iotemu is configured with `[aws_services] endpoint_url`, boto3
creates the resources in moto and the rules in iotemu, a paho device publishes, and boto3 reads
each message back from moto and compares it with the SELECT's output. RuleExecution entries
carry the Publish-In traceId and pass `iotemu check-entries`. Jobs: a `documentSource` in moto's
S3 with a presigned-URL placeholder, received and downloaded by the AWS IoT Device SDK.

Lambda: moto runs functions in docker, whose daemon this machine does not run, and its
docker-less backend keeps no record of invocations; so the Invoke request's path, invocation type,
signature and body are checked at a recording HTTP server set as `[aws_services] lambda` (the
per-service override) standing in for Lambda's Invoke API, and a separate test shows moto's own
Lambda API accepting an existing function's Event invocation and refusing a missing one."""
import base64
import json
import socket
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest

from conftest import Emulator, check_entries, error_of, sdk_device, wait_until
from test_rules_engine import ROLE, Client, Server, of, rule

ACCOUNT = "123456789012"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(env=None):
    """moto's server on a free loopback port, once it answers: (process, url)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return True
        except Exception:
            return False

    if not wait_until(up, timeout=30):
        process.terminate()
        pytest.fail("moto's server did not start")
    return process, url


@pytest.fixture(scope="module")
def moto():
    process, url = start_moto()
    yield url
    process.terminate()
    process.wait(timeout=10)


def aws(moto, service):
    return boto3.client(service, endpoint_url=moto, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture
def setup(moto, data_dir):
    lambda_api = Server(status=202)
    config = data_dir / "iotemu.toml"
    config.write_text(f"""
[aws_services]
lambda = "{lambda_api.url}"
region = "us-east-1"
access_key_id = "test"
secret_access_key = "test"
""")
    # endpoint_url from the flag, the Lambda override and credentials from the file.
    emu = Emulator(data_dir, "--config", str(config), "--aws-endpoint-url", moto)
    yield emu, lambda_api
    emu.stop()
    lambda_api.stop()


def executions(emulator, rule_name):
    return of(emulator, "RuleExecution", ruleName=rule_name)


def trace_of_publish(emulator, topic):
    (publish_in,) = [e for e in of(emulator, "Publish-In") if e.get("topicName") == topic]
    return publish_in["traceId"]


def succeeded(emulator, rule_name, topic):
    """The rule's RuleExecution Success, with the traceId of the Publish-In of `topic`."""
    assert wait_until(lambda: executions(emulator, rule_name), timeout=15), rule_name
    (entry,) = executions(emulator, rule_name)
    assert entry["status"] == "Success", entry
    assert entry["traceId"] == trace_of_publish(emulator, topic)
    return entry


def test_messages_land_in_sqs_sns_dynamodb_kinesis_firehose_s3_step_functions_cloudwatch_and_lambda(moto, setup):
    emulator, lambda_api = setup
    iot = emulator.client("iot")
    sqs, sns, ddb, kinesis = aws(moto, "sqs"), aws(moto, "sns"), aws(moto, "dynamodb"), aws(moto, "kinesis")
    firehose, s3, sfn, cw = aws(moto, "firehose"), aws(moto, "s3"), aws(moto, "stepfunctions"), aws(moto, "cloudwatch")

    queue = sqs.create_queue(QueueName="rule-queue")["QueueUrl"]
    b64_queue = sqs.create_queue(QueueName="rule-queue-b64")["QueueUrl"]
    sns_queue = sqs.create_queue(QueueName="sns-subscriber")["QueueUrl"]
    sns_queue_arn = sqs.get_queue_attributes(QueueUrl=sns_queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="rule-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sns_queue_arn)
    for table in ("readings", "readings_v2"):
        ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    kinesis.create_stream(StreamName="rule-stream", ShardCount=1)
    s3.create_bucket(Bucket="rule-bucket")
    s3.create_bucket(Bucket="firehose-bucket")
    firehose.create_delivery_stream(
        DeliveryStreamName="rule-firehose",
        S3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::firehose-bucket"})
    machine = sfn.create_state_machine(
        name="rule-machine", roleArn=ROLE,
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}))
    cw.put_metric_alarm(AlarmName="rule-alarm", MetricName="m", Namespace="ns", Statistic="Average",
                        Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")

    select = "SELECT temp, topic(2) AS id FROM"
    rules = {
        "to_sqs": (f"{select} 'sqs/+'", [{"sqs": {"queueUrl": queue, "roleArn": ROLE}}]),
        "to_sqs_b64": (f"{select} 'sqsb64/+'", [{"sqs": {"queueUrl": b64_queue, "roleArn": ROLE, "useBase64": True}}]),
        "to_sns": (f"{select} 'sns/+'", [{"sns": {"targetArn": topic, "roleArn": ROLE, "messageFormat": "RAW"}}]),
        "to_ddb": (f"{select} 'ddb/+'", [{"dynamoDB": {
            "tableName": "readings", "hashKeyField": "id", "hashKeyValue": "${topic(2)}", "hashKeyType": "STRING",
            "payloadField": "data", "roleArn": ROLE}}]),
        "to_ddb_v2": (f"{select} 'ddbv2/+'", [{"dynamoDBv2": {"putItem": {"tableName": "readings_v2"}, "roleArn": ROLE}}]),
        "to_kinesis": (f"{select} 'kinesis/+'", [{"kinesis": {
            "streamName": "rule-stream", "partitionKey": "${topic(2)}", "roleArn": ROLE}}]),
        "to_firehose": (f"{select} 'firehose/+'", [{"firehose": {
            "deliveryStreamName": "rule-firehose", "separator": "\n", "roleArn": ROLE}}]),
        "to_s3": (f"{select} 's3/+'", [{"s3": {
            "bucketName": "rule-bucket", "key": "${topic(2)}/reading.json", "roleArn": ROLE}}]),
        "to_sfn": (f"{select} 'sfn/+'", [{"stepFunctions": {
            "stateMachineName": "rule-machine", "executionNamePrefix": "iot-", "roleArn": ROLE}}]),
        "to_metric": (f"{select} 'metric/+'", [{"cloudwatchMetric": {
            "metricNamespace": "iotemu/${topic(1)}", "metricName": "temp", "metricValue": "${temp}",
            "metricUnit": "None", "roleArn": ROLE}}]),
        "to_alarm": (f"{select} 'alarm/+'", [{"cloudwatchAlarm": {
            "alarmName": "rule-alarm", "stateValue": "ALARM", "stateReason": "temp ${temp}", "roleArn": ROLE}}]),
        "to_lambda": (f"{select} 'lambda/+'", [{"lambda": {
            "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:process"}}]),
    }
    for name, (sql, actions) in rules.items():
        rule(iot, name, sql, actions)

    device = Client(emulator, "aws-actions-device")
    for i, prefix in enumerate(["sqs", "sqsb64", "sns", "ddb", "ddbv2", "kinesis", "firehose", "s3", "sfn",
                                "metric", "alarm", "lambda"]):
        device.publish(f"{prefix}/dev{i}", {"temp": 20 + i, "ignored": True})

    def expected(i):
        return {"temp": 20 + i, "id": f"dev{i}"}

    # SQS, as text and base64.
    assert succeeded(emulator, "to_sqs", "sqs/dev0")["resources"] == {"QueueUrl": queue}
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"]) == expected(0)
    succeeded(emulator, "to_sqs_b64", "sqsb64/dev1")
    (message,) = sqs.receive_message(QueueUrl=b64_queue, WaitTimeSeconds=1)["Messages"]
    assert json.loads(base64.b64decode(message["Body"])) == expected(1)

    # SNS, through the topic's SQS subscription (the SNS envelope's Message).
    assert succeeded(emulator, "to_sns", "sns/dev2")["resources"] == {"TargetArn": topic}
    (message,) = sqs.receive_message(QueueUrl=sns_queue, WaitTimeSeconds=1)["Messages"]
    assert json.loads(json.loads(message["Body"])["Message"]) == expected(2)

    # DynamoDB: the payload in `data` of the item keyed by the rendered hash key.
    entry = succeeded(emulator, "to_ddb", "ddb/dev3")
    assert entry["resources"]["Table"] == "readings" and entry["resources"]["Operation"] == "Insert"
    item = ddb.get_item(TableName="readings", Key={"id": {"S": "dev3"}})["Item"]
    assert item["data"] == {"M": {"temp": {"N": "23"}, "id": {"S": "dev3"}}}

    # DynamoDBv2: one attribute per column of the SELECT.
    succeeded(emulator, "to_ddb_v2", "ddbv2/dev4")
    item = ddb.get_item(TableName="readings_v2", Key={"id": {"S": "dev4"}})["Item"]
    assert item == {"temp": {"N": "24"}, "id": {"S": "dev4"}}

    # Kinesis, with the rendered partition key.
    entry = succeeded(emulator, "to_kinesis", "kinesis/dev5")
    assert entry["resources"] == {"StreamName": "rule-stream", "PartitionKey": "dev5"}
    shard = kinesis.describe_stream(StreamName="rule-stream")["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName="rule-stream", ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    (record,) = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert json.loads(record["Data"]) == expected(5) and record["PartitionKey"] == "dev5"

    # Firehose: the record, with its separator, in the delivery stream's S3 bucket.
    succeeded(emulator, "to_firehose", "firehose/dev6")
    objects = s3.list_objects_v2(Bucket="firehose-bucket").get("Contents", [])
    assert objects, "firehose delivered nothing to S3"
    data = b"".join(s3.get_object(Bucket="firehose-bucket", Key=o["Key"])["Body"].read() for o in objects)
    assert data.endswith(b"\n") and json.loads(data) == expected(6)

    # S3: the object at the rendered key.
    entry = succeeded(emulator, "to_s3", "s3/dev7")
    assert entry["resources"] == {"BucketName": "rule-bucket", "Key": "dev7/reading.json"}
    body = s3.get_object(Bucket="rule-bucket", Key="dev7/reading.json")["Body"].read()
    assert json.loads(body) == expected(7)

    # Step Functions: an execution named prefix + UUID, with the SELECT's output as input.
    succeeded(emulator, "to_sfn", "sfn/dev8")
    (execution,) = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    assert execution["name"].startswith("iot-")
    described = sfn.describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"]) == expected(8)

    # CloudWatch: the metric datum, and the alarm's state.
    succeeded(emulator, "to_metric", "metric/dev9")
    metrics = cw.list_metrics(Namespace="iotemu/metric")["Metrics"]
    assert [m["MetricName"] for m in metrics] == ["temp"]
    stats = cw.get_metric_statistics(Namespace="iotemu/metric", MetricName="temp", Statistics=["Maximum"],
                                     StartTime=time.time() - 600, EndTime=time.time() + 600, Period=60)
    assert [p["Maximum"] for p in stats["Datapoints"]] == [29.0]
    succeeded(emulator, "to_alarm", "alarm/dev10")
    (alarm,) = cw.describe_alarms(AlarmNames=["rule-alarm"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM" and alarm["StateReason"] == "temp 30"

    # Lambda: Invoke with InvocationType Event at the configured Lambda endpoint.
    succeeded(emulator, "to_lambda", "lambda/dev11")
    (path, headers, body), = lambda_api.requests
    assert path == f"/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A{ACCOUNT}%3Afunction%3Aprocess/invocations"
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["x-amz-invocation-type"] == "Event" and headers["authorization"].startswith("AWS4-HMAC-SHA256")
    assert json.loads(body) == expected(11)

    device.stop()
    check_entries(emulator.log_file, "RuleExecution", "StartingRuleExecution")


def test_a_missing_queue_goes_to_the_error_action_with_the_services_message(moto, setup):
    emulator, _ = setup
    iot = emulator.client("iot")
    missing = f"{moto}/{ACCOUNT}/no-such-queue"
    rule(iot, "lost", "SELECT * FROM 'lost/+'", [{"sqs": {"queueUrl": missing, "roleArn": ROLE}}],
         errorAction={"republish": {"roleArn": ROLE, "topic": "errors/lost"}})
    watcher = Client(emulator, "error-watcher", ["errors/#"])
    device = Client(emulator, "lost-device")
    device.publish("lost/a", {"n": 1})
    assert wait_until(lambda: watcher.on("errors/lost"), timeout=15)
    error = json.loads(watcher.on("errors/lost")[0].payload)
    (failure,) = error["failures"]
    assert failure["failedAction"] == "SqsAction" and failure["failedResource"] == missing
    assert "does not exist" in failure["errorMessage"], failure
    trace = trace_of_publish(emulator, "lost/a")
    assert error["cloudwatchTraceId"] == trace
    assert wait_until(lambda: [e for e in executions(emulator, "lost") if e.get("ruleAction") == "SqsAction"])
    sqs_entry = [e for e in executions(emulator, "lost") if e.get("ruleAction") == "SqsAction"]
    assert sqs_entry and sqs_entry[0]["status"] == "Failure" and sqs_entry[0]["traceId"] == trace
    assert sqs_entry[0]["reason"] == "ServiceError"
    device.stop()
    watcher.stop()
    check_entries(emulator.log_file, "RuleExecution")


def test_without_aws_services_the_action_fails_naming_the_setting(emulator, iot):
    rule(iot, "unconfigured", "SELECT * FROM 'unconfigured'", [
        {"kinesis": {"streamName": "s", "partitionKey": "k", "roleArn": ROLE}}])
    device = Client(emulator, "unconfigured-device")
    device.publish("unconfigured", {"n": 1})
    assert wait_until(lambda: executions(emulator, "unconfigured"))
    (entry,) = executions(emulator, "unconfigured")
    assert entry["status"] == "Failure" and entry["reason"] == "ActionNotConfigured"
    assert "[aws_services]" in entry["details"] and "endpoint_url" in entry["details"]
    device.stop()


def test_a_job_document_from_s3_gives_the_device_sdk_a_presigned_url_it_downloads(moto, setup, data_dir, tmp_path):
    """CreateJob's documentSource is read from moto's S3; the device (AWS IoT Device SDK v2's
    IotJobsClientV2 over mutual TLS) gets the document with its `${aws:iot:s3-presigned-url:...}`
    placeholder replaced by a presigned URL of moto's S3, and downloads the object with it."""
    import awscrt.mqtt_request_response as rr
    from awsiot import iotjobs

    emulator, _ = setup
    iot = emulator.client("iot")
    s3 = aws(moto, "s3")
    s3.create_bucket(Bucket="job-bucket")
    firmware = bytes(range(256)) * 64
    s3.put_object(Bucket="job-bucket", Key="fw/firmware v2.bin", Body=firmware)
    document = {"operation": "download",
                "url": "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/job-bucket/fw/firmware%20v2.bin}"}
    s3.put_object(Bucket="job-bucket", Key="jobs/download.json", Body=json.dumps(document).encode())

    thing = "s3-job-device"
    iot.create_thing(thingName=thing)
    source = "https://s3.amazonaws.com/job-bucket/jobs/download.json"
    iot.create_job(jobId="from-s3", targets=[f"arn:aws:iot:us-east-1:{ACCOUNT}:thing/{thing}"],
                   documentSource=source, presignedUrlConfig={"roleArn": ROLE, "expiresInSec": 300})
    assert iot.describe_job(jobId="from-s3")["documentSource"] == source
    raw = iot.get_job_document(jobId="from-s3", beforeSubstitution=True)["document"]
    assert json.loads(raw) == document, "the document as stored in S3"
    template = iot.create_job_template(jobTemplateId="s3-template", description="from S3", documentSource=source)
    iot.create_job(jobId="from-s3-template", targets=[f"arn:aws:iot:us-east-1:{ACCOUNT}:thing/{thing}"],
                   jobTemplateArn=template["jobTemplateArn"])
    raw = iot.get_job_document(jobId="from-s3-template", beforeSubstitution=True)["document"]
    assert json.loads(raw) == document, "a template's documentSource is read too"

    connection = sdk_device(emulator, data_dir, tmp_path, thing)
    try:
        jobs = iotjobs.IotJobsClientV2(connection, rr.ClientOptions(
            max_request_response_subscriptions=4, max_streaming_subscriptions=2, operation_timeout_in_seconds=10))
        started = jobs.start_next_pending_job_execution(
            iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing)).result(timeout=10)
        assert started.execution.job_id == "from-s3"
        received = started.execution.job_document
        assert received["operation"] == "download"
        url = received["url"]
        assert url.startswith(f"{moto}/job-bucket/fw/firmware%20v2.bin?"), url
        assert "X-Amz-Expires=300" in url and "X-Amz-Signature=" in url
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == firmware
    finally:
        connection.disconnect().result(timeout=10)


def test_a_missing_document_source_is_an_invalid_request(moto, setup):
    emulator, _ = setup
    iot = emulator.client("iot")
    iot.create_thing(thingName="nobody")
    code, status = error_of(iot.create_job, jobId="missing-doc",
                            targets=[f"arn:aws:iot:us-east-1:{ACCOUNT}:thing/nobody"],
                            documentSource="https://s3.amazonaws.com/no-such-bucket/doc.json")
    assert (code, status) == ("InvalidRequestException", 400)


def test_dynamodb_operations_and_key_types_firehose_batch_mode_and_sns_json_format(moto, setup):
    emulator, _ = setup
    iot = emulator.client("iot")
    ddb, firehose, s3, sns, sqs = (aws(moto, s) for s in ("dynamodb", "firehose", "s3", "sns", "sqs"))
    ddb.create_table(TableName="ranged", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "device", "KeyType": "HASH"},
                                {"AttributeName": "ts", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "device", "AttributeType": "S"},
                                           {"AttributeName": "ts", "AttributeType": "N"}])
    s3.create_bucket(Bucket="batch-bucket")
    firehose.create_delivery_stream(
        DeliveryStreamName="batched",
        S3DestinationConfiguration={"RoleARN": ROLE, "BucketARN": "arn:aws:s3:::batch-bucket"})
    queue = sqs.create_queue(QueueName="json-format")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="json-format")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    dynamo = {"tableName": "ranged", "hashKeyField": "device", "hashKeyValue": "${topic(2)}",
              "rangeKeyField": "ts", "rangeKeyValue": "${ts}", "rangeKeyType": "NUMBER",
              "payloadField": "reading", "operation": "${op}", "roleArn": ROLE}
    rule(iot, "ddb_ops", "SELECT * FROM 'ops/+'", [{"dynamoDB": dynamo}])
    rule(iot, "batch", "SELECT VALUE readings FROM 'batch/+'", [{"firehose": {
        "deliveryStreamName": "batched", "batchMode": True, "separator": ",", "roleArn": ROLE}}])
    rule(iot, "sns_json", "SELECT * FROM 'snsjson/+'", [{"sns": {
        "targetArn": topic, "messageFormat": "JSON", "roleArn": ROLE}}])

    device = Client(emulator, "variants-device")
    key = {"device": {"S": "d1"}, "ts": {"N": "7"}}
    device.publish("ops/d1", {"op": "INSERT", "ts": 7, "v": 1})
    assert wait_until(lambda: len(executions(emulator, "ddb_ops")) == 1, timeout=15)
    assert ddb.get_item(TableName="ranged", Key=key)["Item"]["reading"]["M"]["v"] == {"N": "1"}
    device.publish("ops/d1", {"op": "UPDATE", "ts": 7, "v": 2})
    assert wait_until(lambda: len(executions(emulator, "ddb_ops")) == 2, timeout=15)
    assert ddb.get_item(TableName="ranged", Key=key)["Item"]["reading"]["M"]["v"] == {"N": "2"}
    device.publish("ops/d1", {"op": "DELETE", "ts": 7})
    assert wait_until(lambda: len(executions(emulator, "ddb_ops")) == 3, timeout=15)
    assert "Item" not in ddb.get_item(TableName="ranged", Key=key)
    entries = executions(emulator, "ddb_ops")
    assert all(e["status"] == "Success" for e in entries), entries
    assert [e["resources"]["Operation"] for e in entries] == ["Insert", "Update", "Delete"]
    assert entries[0]["resources"]["ItemRangeKeyValue"] == "7"

    # Firehose batchMode: one record per element of the SELECT's array, each with the separator.
    readings = [{"n": 1}, {"n": 2}, {"n": 3}]
    device.publish("batch/d1", {"readings": readings})
    assert wait_until(lambda: executions(emulator, "batch"), timeout=15)
    assert executions(emulator, "batch")[0]["status"] == "Success"
    objects = s3.list_objects_v2(Bucket="batch-bucket").get("Contents", [])
    data = b"".join(s3.get_object(Bucket="batch-bucket", Key=o["Key"])["Body"].read() for o in objects)
    assert data == b"".join(json.dumps(r, separators=(",", ":")).encode() + b"," for r in readings)

    # SNS messageFormat JSON: MessageStructure=json, so the SQS subscriber gets the "default" text.
    device.publish("snsjson/d1", {"default": "plain text for every protocol", "sqs": "for sqs"})
    assert wait_until(lambda: executions(emulator, "sns_json"), timeout=15)
    assert executions(emulator, "sns_json")[0]["status"] == "Success"
    (message,) = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert json.loads(message["Body"])["Message"] in ("for sqs", "plain text for every protocol")
    device.stop()
    check_entries(emulator.log_file, "RuleExecution")


def test_an_error_action_can_itself_be_an_aws_action(moto, setup):
    emulator, _ = setup
    iot = emulator.client("iot")
    sqs = aws(moto, "sqs")
    errors = sqs.create_queue(QueueName="rule-errors")["QueueUrl"]
    rule(iot, "no_stream", "SELECT * FROM 'nostream/+'",
         [{"kinesis": {"streamName": "no-such-stream", "partitionKey": "k", "roleArn": ROLE}}],
         errorAction={"sqs": {"queueUrl": errors, "roleArn": ROLE}})
    device = Client(emulator, "no-stream-device")
    device.publish("nostream/a", {"n": 1})
    messages = []
    assert wait_until(lambda: messages.extend(
        sqs.receive_message(QueueUrl=errors, WaitTimeSeconds=1).get("Messages", [])) or messages, timeout=15)
    error = json.loads(messages[0]["Body"])
    (failure,) = error["failures"]
    assert failure["failedAction"] == "KinesisAction" and failure["failedResource"] == "no-such-stream"
    assert "ResourceNotFoundException" in failure["errorMessage"], failure
    assert error["cloudwatchTraceId"] == trace_of_publish(emulator, "nostream/a")
    assert wait_until(lambda: len(executions(emulator, "no_stream")) == 2, timeout=5)
    statuses = sorted((e["ruleAction"], e["status"]) for e in executions(emulator, "no_stream"))
    assert statuses == [("KinesisAction", "Failure"), ("SqsAction", "Success")]
    device.stop()


def test_a_service_that_does_not_answer_never_delays_mqtt_delivery(data_dir):
    """SQS at a server that holds every request: the subscriber still gets each message at once,
    no RuleExecution is written while the calls wait, and all five are once it answers."""
    import threading
    gate = threading.Event()
    stuck = Server(gate=gate)
    config = data_dir / "iotemu.toml"
    config.write_text(f"""
[aws_services]
sqs = "{stuck.url}"
timeout_ms = 3000
max_attempts = 1
""")
    emulator = Emulator(data_dir, "--config", str(config))
    try:
        iot = emulator.client("iot")
        rule(iot, "stuck", "SELECT * FROM 'stuck/+'",
             [{"sqs": {"queueUrl": f"{stuck.url}/{ACCOUNT}/q", "roleArn": ROLE}}])
        watcher = Client(emulator, "stuck-watcher", ["stuck/#"])
        device = Client(emulator, "stuck-device")
        for i in range(5):
            device.publish(f"stuck/{i}", {"i": i})
        assert wait_until(lambda: len(watcher.messages) == 5, timeout=2), "delivery waited on SQS"
        assert not executions(emulator, "stuck"), "no action has finished while SQS holds them"
        assert stuck.requests, "the SendMessage calls were made"
        gate.set()
        assert wait_until(lambda: len(executions(emulator, "stuck")) == 5, timeout=15)
        watcher.stop()
        device.stop()
    finally:
        gate.set()
        emulator.stop()
        stuck.stop()


def moto_lambda_docker(moto, use_docker):
    body = json.dumps({"lambda": {"use_docker": use_docker}}).encode()
    request = urllib.request.Request(f"{moto}/moto-api/config", data=body, method="POST",
                                     headers={"content-type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()


def test_lambda_invoke_reaches_motos_lambda_api(moto, data_dir):
    """Without a stand-in: moto's Lambda API refuses the Event invocation of a missing function
    with ResourceNotFoundException, which reaches the errorAction; and accepts (202) that of an
    existing one, run by moto's docker-less backend (this machine runs no docker daemon; that
    backend accepts any name, hence the missing function is tried first, on the default one)."""
    import io
    import zipfile
    iam = aws(moto, "iam")
    role = iam.create_role(RoleName="lambda-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return event\n")
    function = aws(moto, "lambda").create_function(
        FunctionName="rule-target", Runtime="python3.12", Role=role, Handler="index.handler",
        Code={"ZipFile": code.getvalue()})["FunctionArn"]
    emulator = Emulator(data_dir, "--aws-endpoint-url", moto)
    try:
        iot = emulator.client("iot")
        missing = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:no-such-function"
        rule(iot, "invoke", "SELECT * FROM 'invoke/+'", [{"lambda": {"functionArn": function}}])
        rule(iot, "invoke_missing", "SELECT * FROM 'missing/+'", [{"lambda": {"functionArn": missing}}],
             errorAction={"republish": {"roleArn": ROLE, "topic": "errors/lambda"}})
        watcher = Client(emulator, "lambda-watcher", ["errors/#"])
        device = Client(emulator, "lambda-device")
        device.publish("missing/a", {"n": 2})
        assert wait_until(lambda: watcher.on("errors/lambda"), timeout=15)
        (failure,) = json.loads(watcher.on("errors/lambda")[0].payload)["failures"]
        assert failure["failedAction"] == "LambdaAction" and failure["failedResource"] == missing
        assert "Function not found" in failure["errorMessage"], failure
        assert "ResourceNotFoundException" in failure["errorMessage"], failure

        moto_lambda_docker(moto, False)
        device.publish("invoke/a", {"n": 1})
        entry = succeeded(emulator, "invoke", "invoke/a")
        assert entry["resources"] == {"FunctionArn": function}
        watcher.stop()
        device.stop()
        check_entries(emulator.log_file, "RuleExecution")
    finally:
        moto_lambda_docker(moto, True)
        emulator.stop()


@pytest.fixture
def moto_with_auth():
    """A moto server that checks SigV4 signatures and IAM policies after its first three calls
    (`INITIAL_NO_AUTH_ACTION_COUNT`), which create a user with an allow-all policy and its key."""
    import os
    process, url = start_moto(dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3"))
    try:
        iam = aws(url, "iam")
        iam.create_user(UserName="iotemu")
        iam.put_user_policy(UserName="iotemu", PolicyName="all", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="iotemu")["AccessKey"]
        yield url, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_moto_verifies_iotemus_sigv4_signatures(moto_with_auth, tmp_path):
    """moto recomputes each request's SigV4 signature: every protocol iotemu speaks (JSON 1.0 and
    1.1, query, S3 REST) is accepted with the right secret, and a wrong secret is refused with
    SignatureDoesNotMatch, which reaches the RuleExecution details. (Presigned URLs cannot be
    checked this way: moto's auth mode fails with HTTP 500 on any presigned GET, boto3's too,
    as it looks for an Authorization header.)"""
    url, key_id, secret = moto_with_auth

    def client(service):
        return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                            aws_access_key_id=key_id, aws_secret_access_key=secret)

    queue = client("sqs").create_queue(QueueName="signed")["QueueUrl"]
    client("dynamodb").create_table(TableName="signed", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                    BillingMode="PAY_PER_REQUEST")
    client("kinesis").create_stream(StreamName="signed", ShardCount=1)
    client("s3").create_bucket(Bucket="signed")
    topic = client("sns").create_topic(Name="signed")["TopicArn"]

    for name, key in (("good", secret), ("bad", "not-the-secret")):
        directory = tmp_path / name
        directory.mkdir()
        config = directory / "iotemu.toml"
        config.write_text(f"""
[aws_services]
endpoint_url = "{url}"
access_key_id = "{key_id}"
secret_access_key = "{key}"
max_attempts = 1
""")
        emulator = Emulator(directory, "--config", str(config))
        try:
            iot = emulator.client("iot")
            actions = {
                "sqs": {"queueUrl": queue, "roleArn": ROLE},
                "dynamoDBv2": {"putItem": {"tableName": "signed"}, "roleArn": ROLE},
                "kinesis": {"streamName": "signed", "partitionKey": "${topic(2)}", "roleArn": ROLE},
                "s3": {"bucketName": "signed", "key": "signed.json", "roleArn": ROLE},
                "sns": {"targetArn": topic, "roleArn": ROLE},
                "cloudwatchMetric": {"metricNamespace": "signed", "metricName": "n", "metricValue": "1",
                                     "metricUnit": "Count", "roleArn": ROLE},
            }
            for action, body in actions.items():
                rule(iot, f"signed_{action}", f"SELECT '{name}' AS id FROM 'signed/{name}'", [{action: body}])
            device = Client(emulator, f"signed-{name}")
            device.publish(f"signed/{name}", {})
            assert wait_until(lambda: len(of(emulator, "RuleExecution")) == len(actions), timeout=20)
            outcomes = {e["ruleAction"]: e for e in of(emulator, "RuleExecution")}
            if name == "good":
                assert all(e["status"] == "Success" for e in outcomes.values()), outcomes
                assert client("dynamodb").get_item(TableName="signed", Key={"id": {"S": "good"}})["Item"]
                assert json.loads(client("s3").get_object(Bucket="signed", Key="signed.json")["Body"].read()) == {"id": "good"}
            else:
                assert all(e["status"] == "Failure" for e in outcomes.values()), outcomes
                assert "SignatureDoesNotMatch" in outcomes["SqsAction"]["details"], outcomes["SqsAction"]
            device.stop()
        finally:
            emulator.stop()
