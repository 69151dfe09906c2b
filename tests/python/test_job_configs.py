"""CreateJob / CreateJobTemplate keep jobExecutionsRetryConfig, schedulingConfig (with its
maintenanceWindows), presignedUrlConfig and destinationPackageVersions, and DescribeJob /
DescribeJobTemplate return them as given (botocore `iot` model). test_job_retries.py runs the retries."""

RETRY = {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 2}]}
WINDOWS = [{"startTime": "cron(0 0 ? * MON *)", "durationInMinutes": 60}]
SCHEDULING = {"startTime": "2030-01-01T00:00", "endBehavior": "STOP_ROLLOUT", "maintenanceWindows": WINDOWS}
PRESIGNED = {"roleArn": "arn:aws:iam::123456789012:role/r", "expiresInSec": 3600}
PACKAGES = ["arn:aws:iot:us-east-1:123456789012:package/p/version/1.0"]


def test_job_and_template_configurations_are_kept(iot):
    iot.create_thing(thingName="dev")
    thing = iot.describe_thing(thingName="dev")["thingArn"]
    iot.create_job(jobId="j1", targets=[thing], document='{"op": "x"}', jobExecutionsRetryConfig=RETRY,
                   schedulingConfig=SCHEDULING, presignedUrlConfig=PRESIGNED, destinationPackageVersions=PACKAGES)
    job = iot.describe_job(jobId="j1")["job"]
    assert job["jobExecutionsRetryConfig"] == RETRY
    assert job["schedulingConfig"] == SCHEDULING
    assert job["presignedUrlConfig"] == PRESIGNED
    assert job["destinationPackageVersions"] == PACKAGES

    iot.create_job_template(jobTemplateId="t1", description="d", document='{"op": "y"}',
                            jobExecutionsRetryConfig=RETRY, maintenanceWindows=WINDOWS,
                            presignedUrlConfig=PRESIGNED, destinationPackageVersions=PACKAGES)
    template = iot.describe_job_template(jobTemplateId="t1")
    assert (template["jobExecutionsRetryConfig"], template["maintenanceWindows"]) == (RETRY, WINDOWS)
    assert (template["presignedUrlConfig"], template["destinationPackageVersions"]) == (PRESIGNED, PACKAGES)

    # A job made from the template takes them; its maintenance windows are in its schedulingConfig.
    iot.create_job(jobId="j2", targets=[thing], jobTemplateArn=template["jobTemplateArn"])
    job = iot.describe_job(jobId="j2")["job"]
    assert job["jobExecutionsRetryConfig"] == RETRY and job["destinationPackageVersions"] == PACKAGES
    assert job["schedulingConfig"] == {"maintenanceWindows": WINDOWS}
