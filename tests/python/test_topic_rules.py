"""Topic rules through boto3: create (an invalid statement is a SqlParseException that points at
the problem), get, list (topic filter, enabled/disabled, pagination), replace, enable, disable,
delete (AWS answers a missing rule with UnauthorizedException), persistence across a restart,
and reset. test_rules_engine.py runs them."""
import urllib.request

from conftest import Emulator, error_of

REPUBLISH = [{"republish": {"roleArn": "arn:aws:iam::123456789012:role/r", "topic": "out/${topic(2)}"}}]


def payload(sql, **extra):
    return {"sql": sql, "actions": REPUBLISH, **extra}


def test_topic_rule_lifecycle(iot):
    iot.create_topic_rule(ruleName="hot", topicRulePayload=payload(
        "SELECT temp FROM 'sensors/+/data' WHERE temp > 30", description="too hot",
        awsIotSqlVersion="2016-03-23"))
    got = iot.get_topic_rule(ruleName="hot")
    assert got["ruleArn"] == "arn:aws:iot:us-east-1:123456789012:rule/hot"
    rule = got["rule"]
    assert rule["sql"] == "SELECT temp FROM 'sensors/+/data' WHERE temp > 30" and rule["description"] == "too hot"
    assert rule["actions"] == REPUBLISH and rule["ruleDisabled"] is False
    assert rule["awsIotSqlVersion"] == "2016-03-23"
    assert error_of(iot.create_topic_rule, ruleName="hot", topicRulePayload=payload("SELECT * FROM 'a'")) == \
        ("ResourceAlreadyExistsException", 409)

    iot.create_topic_rule(ruleName="cold", topicRulePayload=payload("SELECT * FROM 'sensors/#'"))
    assert iot.get_topic_rule(ruleName="cold")["rule"]["awsIotSqlVersion"] == "2015-10-08", "the default"
    listed = iot.list_topic_rules()["rules"]
    assert [(r["ruleName"], r["topicPattern"]) for r in listed] == [("cold", "sensors/#"), ("hot", "sensors/+/data")]
    assert [r["ruleName"] for r in iot.list_topic_rules(topic="sensors/#")["rules"]] == ["cold"]
    first = iot.list_topic_rules(maxResults=1)
    assert [r["ruleName"] for r in first["rules"]] == ["cold"] and first["nextToken"]
    assert [r["ruleName"] for r in iot.list_topic_rules(maxResults=1, nextToken=first["nextToken"])["rules"]] == \
        ["hot"]

    iot.disable_topic_rule(ruleName="hot")
    assert iot.get_topic_rule(ruleName="hot")["rule"]["ruleDisabled"] is True
    assert [r["ruleName"] for r in iot.list_topic_rules(ruleDisabled=True)["rules"]] == ["hot"]
    iot.enable_topic_rule(ruleName="hot")
    assert iot.get_topic_rule(ruleName="hot")["rule"]["ruleDisabled"] is False

    iot.replace_topic_rule(ruleName="hot", topicRulePayload=payload("SELECT * FROM 'other/topic'"))
    replaced = iot.get_topic_rule(ruleName="hot")["rule"]
    assert replaced["sql"] == "SELECT * FROM 'other/topic'" and replaced["createdAt"] == rule["createdAt"]
    iot.delete_topic_rule(ruleName="hot")
    assert error_of(iot.get_topic_rule, ruleName="hot") == ("UnauthorizedException", 401)
    assert error_of(iot.delete_topic_rule, ruleName="hot") == ("UnauthorizedException", 401)


def test_invalid_sql_is_a_sql_parse_exception_that_points_at_the_problem(iot):
    for sql in ["SELECT FROM 'a'", "SELECT * FROM a/b", "SELECT * FROM 'a' WHERE", "SELEC * FROM 'a'"]:
        code, status = error_of(iot.create_topic_rule, ruleName="bad", topicRulePayload=payload(sql))
        assert (code, status) == ("SqlParseException", 400), sql
    try:
        iot.create_topic_rule(ruleName="bad", topicRulePayload=payload("SELECT a, FROM 'x'"))
    except iot.exceptions.SqlParseException as e:
        assert "1:" in e.response["Error"]["Message"], "the message says where"
    else:
        raise AssertionError("accepted invalid SQL")
    assert error_of(iot.create_topic_rule, ruleName="no spaces", topicRulePayload=payload("SELECT * FROM 'a'"))[0] \
        in ("InvalidRequestException", "ValidationException")
    assert iot.list_topic_rules()["rules"] == []


def test_rules_survive_a_restart_and_reset_wipes_them(data_dir):
    first = Emulator(data_dir)
    try:
        first.client("iot").create_topic_rule(ruleName="kept", topicRulePayload=payload("SELECT * FROM 'k'"))
    finally:
        first.stop()
    second = Emulator(data_dir)
    try:
        iot = second.client("iot")
        assert iot.get_topic_rule(ruleName="kept")["rule"]["sql"] == "SELECT * FROM 'k'"
        urllib.request.urlopen(urllib.request.Request(f"{second.endpoint}/_iotemu/reset", method="POST"))
        assert iot.list_topic_rules()["rules"] == []
    finally:
        second.stop()
