//! Table-driven tests from the examples of AWS's SQL pages, plus the undefined-value rules,
//! each function, parse errors and topic filters.

use std::cell::RefCell;

use serde_json::{json, Value};

use super::*;

const V1: SqlVersion = SqlVersion::V2015_10_08;
const V2: SqlVersion = SqlVersion::V2016_03_23;

fn message(topic: &str, payload: &[u8]) -> Message {
    Message {
        topic: topic.into(),
        payload: payload.to_vec().into(),
        client_id: Some("client-1".into()),
        principal: Some("ba67293af50bf2506f5f93469686da660c7c844e7b3950bfb16813e0d31e9373".into()),
        trace_id: Some("12345678-1234-1234-1234-123456789012".into()),
        account_id: "123456789012".into(),
        timestamp_ms: 1481825251155,
        ..Message::default()
    }
}

/// Evaluates `sql` on a JSON payload published to `topic/subtopic`; `None` when WHERE fails.
fn run(version: SqlVersion, sql: &str, payload: &str) -> Option<Value> {
    let st = Statement::parse(sql, version).unwrap_or_else(|e| panic!("{sql}: {e}"));
    match st.evaluate(&message("topic/subtopic", payload.as_bytes()), &NoEnvironment) {
        Ok(Some(Output::Json(v))) => Some(v.into_value()),
        Ok(None) => None,
        other => panic!("{sql}: {other:?}"),
    }
}

/// The value of one expression (`None` for Undefined) on a payload.
fn value_on(version: SqlVersion, expr: &str, payload: &str) -> Option<Value> {
    let out = run(version, &format!("SELECT {expr} AS r FROM 'topic/subtopic'"), payload);
    out.and_then(|o| o.get("r").cloned())
}

fn value(version: SqlVersion, expr: &str) -> Option<Value> {
    value_on(version, expr, "{}")
}

#[test]
fn aws_page_examples() {
    let cases: &[(SqlVersion, &str, &str, Option<Value>)] = &[
        // iot-sql-reference
        (
            V1,
            "SELECT color AS rgb FROM 'topic/subtopic' WHERE temperature > 50",
            r#"{"color":"red","temperature":100}"#,
            Some(json!({"rgb":"red"})),
        ),
        // iot-sql-select
        (V1, "SELECT * FROM 'topic/subtopic'", r#"{"color":"red","temperature":50}"#, Some(json!({"color":"red","temperature":50}))),
        (V1, "SELECT color FROM 'topic/subtopic'", r#"{"color":"red","temperature":50}"#, Some(json!({"color":"red"}))),
        (V1, "SELECT color AS my_color FROM 'topic/subtopic'", r#"{"color":"red","temperature":50}"#, Some(json!({"my_color":"red"}))),
        (
            V1,
            "SELECT color as my_color, temperature as fahrenheit FROM 'topic/subtopic'",
            r#"{"color":"red","temperature":50}"#,
            Some(json!({"my_color":"red","fahrenheit":50})),
        ),
        (
            V1,
            "SELECT *, 15 as speed FROM 'topic/subtopic'",
            r#"{"color":"red","temperature":50}"#,
            Some(json!({"color":"red","temperature":50,"speed":15})),
        ),
        (V1, "SELECT VALUE color FROM 'topic/subtopic'", r#"{"color":"red","temperature":50}"#, Some(json!("red"))),
        (
            V1,
            "SELECT color.red as red_value FROM 'topic/subtopic'",
            r#"{"color":{"red":255,"green":0,"blue":0},"temperature":50}"#,
            Some(json!({"red_value":255})),
        ),
        (
            V1,
            "SELECT (temperature - 32) * 5 / 9 AS celsius, upper(color) as my_color FROM 'topic/subtopic'",
            r#"{"color":"red","temperature":50}"#,
            Some(json!({"celsius":10,"my_color":"RED"})),
        ),
        // iot-sql-from
        (V1, "SELECT temperature AS t FROM 'topic/subtopic'", r#"{"temperature":50}"#, Some(json!({"t":50}))),
        // iot-sql-where
        (
            V1,
            "SELECT color AS my_color FROM 'topic/subtopic' WHERE temperature > 50 AND color <> 'red'",
            r#"{"color":"red","temperature":40}"#,
            None,
        ),
        (
            V2,
            "SELECT decode(encode(*, 'base64'), 'base64') AS value FROM 'topic/subtopic' \
             WHERE decode(encode(*, 'base64'), 'base64') > 50",
            "80",
            Some(json!({"value":80})),
        ),
        // iot-sql-case
        (
            V1,
            "SELECT CASE color
                WHEN 'green' THEN 'go'
                WHEN 'yellow' THEN 'caution'
                WHEN 'red' THEN 'stop'
                ELSE 'you are not at a stop light' END as instructions
            FROM 'topic/subtopic'",
            r#"{"color":"yellow"}"#,
            Some(json!({"instructions":"caution"})),
        ),
        // iot-sql-json
        (
            V1,
            "SELECT foo.bar AS bar.baz FROM 'topic/subtopic'",
            r#"{"foo":{"bar":"RED","bar1":"GREEN","bar2":"BLUE"}}"#,
            Some(json!({"bar":{"baz":"RED"}})),
        ),
        (
            V1,
            r#"SELECT * from 'iot/rules' WHERE get(get(get(mydata,"item2"),"0"),"my-key") = "myValue""#,
            r#"{"mydata":{"item2":{"0":{"my-key":"myValue"}}}}"#,
            Some(json!({"mydata":{"item2":{"0":{"my-key":"myValue"}}}})),
        ),
        // iot-sql-literals
        (
            V2,
            "SELECT {'latitude': get(lat_long, 0),'longitude':get(lat_long, 1)} as lat_long FROM 'topic/subtopic'",
            r#"{"lat_long":[47.606,-122.332]}"#,
            Some(json!({"lat_long":{"latitude":47.606,"longitude":-122.332}})),
        ),
        (
            V2,
            "SELECT [lat,long] as lat_long FROM 'topic/subtopic'",
            r#"{"lat":47.606,"long":-122.332}"#,
            Some(json!({"lat_long":[47.606,-122.332]})),
        ),
        // iot-rule-sql-version: an array as the top-level output
        (V2, "SELECT VALUE arr FROM 'topic'", r#"{"a":{"b":"c"},"arr":[1,2,3,4]}"#, Some(json!([1, 2, 3, 4]))),
        // the decode function's example
        (
            V2,
            r#"SELECT decode(encoded_temp,"base64").temperature AS temp from 'topic/subtopic'"#,
            r#"{"encoded_temp":"eyAidGVtcGVyYXR1cmUiOiAzMyB9Cg=="}"#,
            Some(json!({"temp":33})),
        ),
        // iot-sql-data-types
        (V1, "SELECT NULL AS n FROM 'topic/subtopic'", "{}", Some(json!({"n":null}))),
    ];
    for (version, sql, payload, expected) in cases {
        assert_eq!(&run(*version, sql, payload), expected, "{sql}");
    }
}

const SENSORS: &str = r#"{"e":[
    {"n":"temperature","u":"Cel","t":1234,"v":22.5},
    {"n":"light","u":"lm","t":1235,"v":135},
    {"n":"acidity","u":"pH","t":1235,"v":7}]}"#;

#[test]
fn output_text_keeps_the_select_order() {
    let st =
        Statement::parse("SELECT *, 15 as speed, {'z': 1, 'a': [2, missing]} AS o FROM 't'", V2).unwrap();
    let payload = br#"{"color":"red","temperature":50,"s":"\"q\""}"#;
    let out = st.evaluate(&message("t", payload), &NoEnvironment).unwrap().unwrap();
    assert_eq!(
        String::from_utf8(out.to_bytes()).unwrap(),
        r#"{"color":"red","temperature":50,"s":"\"q\"","speed":15,"o":{"z":1,"a":[2]}}"#
    );
    let Output::Json(j) = out else { panic!() };
    assert_eq!(serde_json::from_str::<Value>(j.text()).unwrap(), *j.value());
}

#[test]
fn transform_examples_of_the_aws_page() {
    let p = r#"{"attributes":{"data1":1,"data2":2},"values":[{"a":3},{"b":4},{"c":5}]}"#;
    let text = |sql: &str, payload: &str| {
        let st = Statement::parse(sql, V2).unwrap();
        let out = st.evaluate(&message("A/B", payload.as_bytes()), &NoEnvironment).unwrap().unwrap();
        String::from_utf8(out.to_bytes()).unwrap()
    };
    assert_eq!(
        text("select value transform(\"enrichArray\", attributes, values) from 'A/B'", p),
        r#"[{"a":3,"data1":1,"data2":2},{"b":4,"data1":1,"data2":2},{"c":5,"data1":1,"data2":2}]"#
    );
    assert_eq!(
        text("select value transform(\"enrichArray\", {\"key\": attributes.data1}, values) from 'A/B'", p),
        r#"[{"a":3,"key":1},{"b":4,"key":1},{"c":5,"key":1}]"#
    );
    let p3 = r#"{"data1":"example","data2":{"a":"first attribute","b":"second attribute","c":[
        {"x":{"someInt":5,"someString":"hello"},"y":true},
        {"x":{"someInt":10,"someString":"world"},"y":false}]}}"#;
    assert_eq!(
        text(
            "select value transform('enrichArray', (select a, b from data2), (select value c from data2)) from 'A/B'",
            p3
        ),
        r#"[{"x":{"someInt":5,"someString":"hello"},"y":true,"a":"first attribute","b":"second attribute"},{"x":{"someInt":10,"someString":"world"},"y":false,"a":"first attribute","b":"second attribute"}]"#
    );
    assert_eq!(value(V2, "transform('other', {}, [])"), None);
    assert_eq!(value(V2, "transform('enrichArray', {'k': 1}, [1])"), None);
    assert!(Statement::parse("SELECT transform('enrichArray', a, b) FROM 't'", V1).is_err());
}

#[test]
fn nested_queries_of_the_aws_page() {
    let cases = [
        (
            "SELECT (SELECT VALUE n FROM e) as sensors FROM 'my/topic'",
            json!({"sensors":["temperature","light","acidity"]}),
        ),
        (
            "SELECT (SELECT v FROM e WHERE n = 'temperature') as temperature FROM 'my/topic'",
            json!({"temperature":[{"v":22.5}]}),
        ),
        (
            "SELECT get((SELECT v FROM e WHERE n = 'temperature'), 0).v as temperature FROM 'topic'",
            json!({"temperature":22.5}),
        ),
    ];
    for (sql, expected) in cases {
        assert_eq!(run(V2, sql, SENSORS), Some(expected), "{sql}");
    }
    let err = Statement::parse("SELECT (SELECT VALUE n FROM e) AS s FROM 'a'", V1).unwrap_err();
    assert_eq!(err.to_string(), "A nested SELECT requires SQL version 2016-03-23 at 1:8");
}

#[test]
fn select_keys_paths_and_indexes() {
    let p = r#"{"a":{"b":[10,{"c":"x"}]},"k":1}"#;
    assert_eq!(run(V2, "SELECT a.b[0] FROM 't'", p), Some(json!({"b":10})));
    assert_eq!(run(V2, "SELECT a.b[1].c AS c FROM 't'", p), Some(json!({"c":"x"})));
    assert_eq!(run(V2, "SELECT a.b[5] AS c, k FROM 't'", p), Some(json!({"k":1})));
    assert_eq!(run(V2, "SELECT a['b'][0] AS c FROM 't'", p), Some(json!({"c":10})));
    assert_eq!(run(V2, "SELECT topic() FROM 't'", p), Some(json!({"topic":"topic/subtopic"})));
    assert_eq!(run(V2, "SELECT 1 + 1, k FROM 't'", p), Some(json!({"_1":2,"k":1})));
    assert_eq!(run(V2, "SELECT k AS x.y, k AS x.z FROM 't'", p), Some(json!({"x":{"y":1,"z":1}})));
    assert_eq!(run(V2, "select value k from 't' where k = 1", p), Some(json!(1)));
    // A field called `value` is still a field.
    assert_eq!(run(V2, "SELECT value FROM 't'", r#"{"value":3}"#), Some(json!({"value":3})));
}

#[test]
fn undefined_value_rules() {
    let p = r#"{"foo":null,"n":5,"s":"x"}"#;
    let no_match = [
        "SELECT * FROM 't' WHERE missing > 5",
        "SELECT * FROM 't' WHERE missing = 'x'",
        "SELECT * FROM 't' WHERE missing <> 'x'",
        "SELECT * FROM 't' WHERE NOT missing",
        "SELECT * FROM 't' WHERE missing",
        "SELECT * FROM 't' WHERE n = 5 AND missing = 1",
        "SELECT * FROM 't' WHERE n",
        "SELECT * FROM 't' WHERE s > 1",
        "SELECT * FROM 't' WHERE foo = 1",
    ];
    for sql in no_match {
        assert_eq!(run(V2, sql, p), None, "{sql}");
    }
    assert!(run(V2, "SELECT * FROM 't' WHERE isUndefined(missing)", p).is_some());
    assert!(run(V2, "SELECT * FROM 't' WHERE 'TRUE'", p).is_some());
    // Undefined is left out of objects; Null is kept.
    assert_eq!(run(V2, "SELECT foo, bar FROM 't'", p), Some(json!({"foo":null})));
    assert_eq!(run(V2, "SELECT missing.deeper[0] AS x FROM 't'", p), Some(json!({})));
    assert_eq!(value(V2, "CASE missing WHEN 1 THEN 2 ELSE 3 END"), None);
    assert_eq!(value(V2, "CASE 5 WHEN 1 THEN 2 END"), None);
    // SELECT VALUE of Undefined serializes to an empty payload.
    let st = Statement::parse("SELECT VALUE missing FROM 't'", V2).unwrap();
    assert_eq!(st.evaluate(&message("t", b"{}"), &NoEnvironment).unwrap(), Some(Output::Binary(vec![])));
}

#[test]
fn operators() {
    let cases: &[(&str, Option<Value>)] = &[
        ("true AND false", Some(json!(false))),
        ("'TRUE' AND true", Some(json!(true))),
        ("false OR 'true'", Some(json!(true))),
        ("1 AND true", None),
        ("NOT 'false'", Some(json!(true))),
        ("NOT 1", None),
        ("2 > 1", Some(json!(true))),
        ("'10' > 9", Some(json!(true))),
        ("'abc' > 1", None),
        ("1.5 >= 1.5", Some(json!(true))),
        ("1 < 2 AND 2 <= 2", Some(json!(true))),
        ("1 = 1.0", Some(json!(true))),
        ("1 = 'a'", Some(json!(false))),
        ("1 <> 'a'", Some(json!(true))),
        ("1 != 2", Some(json!(true))),
        ("null = null", Some(json!(true))),
        ("null <> null", Some(json!(false))),
        ("[1, 2] = [1, 2]", Some(json!(true))),
        ("[1, 2] = [2, 1]", Some(json!(false))),
        ("{'a': 1, 'b': 2} = {'b': 2, 'a': 1}", Some(json!(true))),
        ("'a' + 1", Some(json!("a1"))),
        ("1 + 'a'", Some(json!("1a"))),
        ("1 + 2", Some(json!(3))),
        ("1 + 1.5", Some(json!(2.5))),
        ("true + 1", None),
        ("'3' - 1", Some(json!(2))),
        ("'x' - 1", None),
        ("6 * 7", Some(json!(42))),
        ("5 / 2", Some(json!(2))),
        ("5.5 / 2", Some(json!(2.75))),
        ("1 / 0", None),
        ("8 % 3", Some(json!(2))),
        ("-5 % 3", Some(json!(-2))),
        ("-(2 + 3)", Some(json!(-5))),
        ("2 + 3 * 4", Some(json!(14))),
        ("(2 + 3) * 4", Some(json!(20))),
        ("1 < 2 OR 1 / 0 = 1", None),
        // Decimal arithmetic as AWS's decimals give it, not binary floating point's 0.30000000000000004.
        ("0.1 + 0.2", Some(json!(0.3))),
        ("1.1 * 1.1", Some(json!(1.21))),
        ("22.5 * 1.8 + 32", Some(json!(72.5))),
        ("0.3 - 0.1", Some(json!(0.2))),
        ("0.1 + 0.2 = 0.3", Some(json!(true))),
    ];
    for (expr, expected) in cases {
        assert_eq!(&value(V2, expr), expected, "{expr}");
    }
    assert_eq!(value(V1, "'3' - 1"), Some(json!(2.0)));
    // 2016-03-23 reads the literal 5.0 as the Int 5, so the division is an Int division.
    assert_eq!(value(V1, "5.0 / 2"), Some(json!(2.5)));
    assert_eq!(value(V2, "5.0 / 2"), Some(json!(2)));
}

#[test]
fn sql_versions_treat_whole_decimals_differently() {
    assert_eq!(value_on(V1, "x", r#"{"x":10.0}"#), Some(json!(10.0)));
    assert_eq!(value_on(V2, "x", r#"{"x":10.0}"#), Some(json!(10)));
    assert_eq!(value(V1, "power(2, 5)"), Some(json!(32.0)));
    assert_eq!(value(V2, "power(2, 5)"), Some(json!(32)));
    assert_eq!(value(V1, "cast(3 AS Double)"), Some(json!(3.0)));
    assert_eq!(SqlVersion::parse("2016-03-23"), Some(V2));
    assert_eq!(SqlVersion::parse("beta"), Some(V2));
    assert_eq!(SqlVersion::parse("2015-10-08"), Some(V1));
    assert_eq!(SqlVersion::parse("2020-01-01"), None);
    assert_eq!(SqlVersion::default(), V1);
}

#[test]
fn functions() {
    let cases: &[(&str, Option<Value>)] = &[
        ("abs(-5)", Some(json!(5))),
        ("abs(-5.5)", Some(json!(5.5))),
        ("abs('-5.123')", Some(json!(5.123))),
        ("abs(true)", None),
        ("abs(null)", None),
        ("ceil(1.2)", Some(json!(2))),
        ("ceil(-1.2)", Some(json!(-1))),
        ("ceil('1.2')", Some(json!(2))),
        ("ceil('x')", None),
        ("floor(1.2)", Some(json!(1))),
        ("floor(-1.2)", Some(json!(-2))),
        ("round(1.2)", Some(json!(1))),
        ("Round(1.5)", Some(json!(2))),
        ("round(1.7)", Some(json!(2))),
        ("round(-1.1)", Some(json!(-1))),
        ("round(-1.5)", Some(json!(-2))),
        ("round(7)", Some(json!(7))),
        ("mod(8, 3)", Some(json!(2))),
        ("mod(8.5, 3)", Some(json!(2.5))),
        ("mod('x', 3)", None),
        ("power(2, 5)", Some(json!(32))),
        ("power('2', 0.5)", Some(json!(std::f64::consts::SQRT_2))),
        ("sqrt(9)", Some(json!(3))),
        ("sqrt(-1)", None),
        ("sqrt([1])", None),
        ("lower('HELLO')", Some(json!("hello"))),
        ("lower(['HELLO'])", Some(json!("[\"hello\"]"))),
        ("upper('hello')", Some(json!("HELLO"))),
        ("upper(['hello'])", Some(json!("[\"HELLO\"]"))),
        ("upper(null)", None),
        ("concat()", None),
        ("concat(1)", Some(json!("1"))),
        ("concat([1, 2, 3], 4)", Some(json!([1, 2, 3, 4]))),
        ("concat([1, 2, 3], 'hello')", Some(json!([1, 2, 3, "hello"]))),
        ("concat('con', 'cat')", Some(json!("concat"))),
        ("concat(1, 'hello')", Some(json!("1hello"))),
        ("concat('he', 'is', 'man')", Some(json!("heisman"))),
        ("concat([1, 2, 3], 'hello', [4, 5, 6])", Some(json!([1, 2, 3, "hello", 4, 5, 6]))),
        ("substring('012345', 0)", Some(json!("012345"))),
        ("substring('012345', 2)", Some(json!("2345"))),
        ("substring('012345', 2.745)", Some(json!("2345"))),
        ("substring(123, 2)", Some(json!("3"))),
        ("substring('012345', -1)", Some(json!("012345"))),
        ("substring(true, 1.2)", Some(json!("rue"))),
        ("substring(false, -2.411E247)", Some(json!("false"))),
        ("substring('012345', 1, 3)", Some(json!("12"))),
        ("substring('012345', -50, 50)", Some(json!("012345"))),
        ("substring('012345', 3, 1)", Some(json!(""))),
        ("substring('012345', 'x')", None),
        ("length('hi')", Some(json!(2))),
        ("length(false)", Some(json!(5))),
        ("length('héllo')", Some(json!(5))),
        ("numbytes('é')", Some(json!(2))),
        ("trim(' hi ')", Some(json!("hi"))),
        ("ltrim(' hi ')", Some(json!("hi "))),
        ("rtrim(' hi ')", Some(json!(" hi"))),
        ("trim(null)", None),
        ("startswith('ranger', 'ran')", Some(json!(true))),
        ("startswith('ranger', 'x')", Some(json!(false))),
        ("startswith(null, 'x')", None),
        ("startswith(123, 1)", Some(json!(true))),
        ("endswith('cat', 'at')", Some(json!(true))),
        ("endswith('cat', missing)", None),
        ("indexof('abcd', 'cd')", Some(json!(2))),
        ("indexof('abcd', 'x')", Some(json!(-1))),
        ("replace('abcd', 'bc', 'x')", Some(json!("axd"))),
        ("replace('abcdabcd', 'b', 'x')", Some(json!("axcdaxcd"))),
        ("replace(null, 'b', 'x')", None),
        ("regexp_matches('aaaa', 'a{2,}')", Some(json!(true))),
        ("regexp_matches('aaaa', 'b')", Some(json!(false))),
        ("regexp_matches('aaaa', '(')", None),
        ("regexp_matches(null, 'a')", None),
        ("regexp_replace('abcd', 'bc', 'x')", Some(json!("axd"))),
        ("regexp_replace('abcd', 'b(.*)d', '$1')", Some(json!("ac"))),
        ("regexp_replace('abcd', 'b(.)', '$1x')", Some(json!("acxd"))),
        ("regexp_substr('hihihello', 'hi')", Some(json!("hi"))),
        ("regexp_substr('hihihello', '(hi)*')", Some(json!("hihi"))),
        ("cast(true AS Int)", Some(json!(1))),
        ("cast(3.7 AS Integer)", Some(json!(3))),
        ("cast(-3.7 AS Int)", Some(json!(-4))),
        ("cast('5.9' AS Int)", Some(json!(5))),
        ("cast('x' AS Int)", None),
        ("cast(1.5 AS String)", Some(json!("1.5"))),
        ("cast([1, 'a'] AS varchar)", Some(json!("[1,\"a\"]"))),
        ("cast(null AS String)", None),
        ("cast(0 AS Boolean)", Some(json!(false))),
        ("cast(2.5 AS Bool)", Some(json!(true))),
        ("cast('TRUE' AS Boolean)", Some(json!(true))),
        ("cast('yes' AS Boolean)", None),
        ("cast(false AS Decimal)", Some(json!(0))),
        ("cast('5E-1' AS Decimal)", Some(json!(0.5))),
        ("isNull(5)", Some(json!(false))),
        ("isNull(Null)", Some(json!(true))),
        ("isNull(missing)", Some(json!(false))),
        ("isUndefined(5)", Some(json!(false))),
        ("isUndefined(floor([1, 2, 3]))", Some(json!(true))),
        ("isString('a')", Some(json!(true))),
        ("isString(1)", Some(json!(false))),
        ("isNumber(1.5)", Some(json!(true))),
        ("isNumber('1')", Some(json!(false))),
        ("isBoolean(false)", Some(json!(true))),
        ("isObject({'a': 1})", Some(json!(true))),
        ("isObject([1])", Some(json!(false))),
        ("isArray([1])", Some(json!(true))),
        ("get(['a', 'b', 'c'], 1)", Some(json!("b"))),
        ("get(['a', 'b', 'c'], 3)", None),
        ("get(['a', 'b', 'c'], -1)", None),
        ("get({'a': 'b'}, 'a')", Some(json!("b"))),
        // The page's example says "a", but its table says 0-based: we follow the table.
        ("get('abc', 1)", Some(json!("b"))),
        ("get(5, 1)", None),
        ("encode('hello', 'base64')", Some(json!("aGVsbG8="))),
        ("encode('hello', 'hex')", None),
        ("decode('aGVsbG8=', 'base64')", Some(json!("hello"))),
        ("decode('eyJhIjoxfQ==', 'base64').a", Some(json!(1))),
        ("decode('***', 'base64')", Some(json!(null))),
        ("sql_version()", Some(json!("2016-03-23"))),
        // The page gives 1.5707963267948966.
        ("acos(0)", Some(json!(std::f64::consts::FRAC_PI_2))),
        ("acos(2)", None),
        ("asin(1)", Some(json!(std::f64::consts::FRAC_PI_2))),
        ("atan2(1, 0)", Some(json!(std::f64::consts::FRAC_PI_2))),
        ("cos(0)", Some(json!(1))),
        ("sin('0')", Some(json!(0))),
        ("tanh(true)", None),
        ("ln(exp(1))", Some(json!(1))),
        ("log(100)", Some(json!(2))),
        ("ln(0)", None),
        ("bitand(13, 5)", Some(json!(5))),
        ("bitor(12, 10)", Some(json!(14))),
        ("bitxor(12, 10)", Some(json!(6))),
        ("bitnot(12)", Some(json!(-13))),
        ("bitand(13.9, '5.2')", Some(json!(5))),
        ("bitand(13, 'x')", None),
        ("chr(65)", Some(json!("A"))),
        ("chr(49)", Some(json!("1"))),
        ("chr(65.9)", Some(json!("A"))),
        ("chr(300)", None),
        ("lpad('hello', 2)", Some(json!("  hello"))),
        ("lpad(1, 3)", Some(json!("   1"))),
        ("lpad('a', -4)", Some(json!("a"))),
        ("rpad('hello', 2)", Some(json!("hello  "))),
        ("rpad('a', 'x')", None),
        ("trunc(2.3, 0)", Some(json!(2))),
        ("trunc(2.3123, 2)", Some(json!(2.31))),
        ("trunc(2.888, 2)", Some(json!(2.88))),
        ("trunc(2.00, 5)", Some(json!(2))),
        ("trunc(7, 2)", Some(json!(7))),
        ("trunc('x', 2)", None),
        ("Nanvl(8, 3)", Some(json!(8))),
        ("nanvl(missing, 3)", Some(json!(3))),
        ("nanvl(null, 'b')", Some(json!("b"))),
        ("md5('hello')", Some(json!("5d41402abc4b2a76b9719d911017c592"))),
        ("sha1('hello')", Some(json!("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"))),
        ("sha256('hello')", Some(json!("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"))),
        ("sha256(null)", None),
        ("indexof('abcd', 'bc')", Some(json!(1))),
    ];
    for (expr, expected) in cases {
        assert_eq!(&value(V2, expr), expected, "{expr}");
    }
}

#[test]
fn message_functions() {
    let p = "{}";
    let cases: &[(&str, &str, Option<Value>)] = &[
        ("things/myThings/thingOne", "topic()", Some(json!("things/myThings/thingOne"))),
        ("things/myThings/thingOne", "topic(1)", Some(json!("things"))),
        ("things/myThings/thingOne", "topic(3)", Some(json!("thingOne"))),
        ("things/myThings/thingOne", "topic(4)", None),
        ("things/myThings/thingOne", "topic(0)", None),
        (
            "$aws/rules/BuildingManager/Buildings/Building5/Floor2/Room201/Lights",
            "topic()",
            Some(json!("Buildings/Building5/Floor2/Room201/Lights")),
        ),
        (
            "$aws/rules/BuildingManager/Buildings/Building5/Floor2/Room201/Lights",
            "topic(3)",
            Some(json!("Floor2")),
        ),
        ("a/b", "clientid()", Some(json!("client-1"))),
        (
            "a/b",
            "principal()",
            Some(json!("ba67293af50bf2506f5f93469686da660c7c844e7b3950bfb16813e0d31e9373")),
        ),
        ("a/b", "traceid()", Some(json!("12345678-1234-1234-1234-123456789012"))),
        ("a/b", "accountid()", Some(json!("123456789012"))),
        ("a/b", "timestamp()", Some(json!(1481825251155_i64))),
    ];
    for (topic, expr, expected) in cases {
        let st = Statement::parse(&format!("SELECT {expr} AS r FROM '#'"), V1).unwrap();
        let Some(Output::Json(out)) = st.evaluate(&message(topic, p.as_bytes()), &NoEnvironment).unwrap()
        else {
            panic!("{expr}")
        };
        assert_eq!(&out.value().get("r").cloned(), expected, "{expr} on {topic}");
    }
    let bare = Message { topic: "a".into(), payload: b"{}".to_vec().into(), ..Message::default() };
    let st =
        Statement::parse("SELECT clientid() AS c, traceid() AS t, principal() AS p FROM 'a'", V1).unwrap();
    assert_eq!(st.evaluate(&bare, &NoEnvironment).unwrap(), Some(Output::json(json!({"c":"n/a"}))));

    let st = Statement::parse("SELECT rand() AS r FROM 'a'", V1).unwrap();
    let Some(Output::Json(out)) = st.evaluate(&bare, &NoEnvironment).unwrap() else { panic!() };
    let r = out.value()["r"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&r), "{r}");

    let st = Statement::parse("SELECT newuuid() AS a, newuuid() AS b FROM 'a'", V1).unwrap();
    let Some(Output::Json(out)) = st.evaluate(&bare, &NoEnvironment).unwrap() else { panic!() };
    let (a, b) = (out.value()["a"].as_str().unwrap(), out.value()["b"].as_str().unwrap());
    assert!(uuid::Uuid::parse_str(a).is_ok());
    assert_ne!(a, b);
}

#[test]
fn parse_time() {
    let cases: &[(&str, Option<Value>)] = &[
        (
            "parse_time(\"yyyy.MM.dd G 'at' HH:mm:ss z\", 100000000)",
            Some(json!("1970.01.02 AD at 03:46:40 UTC")),
        ),
        (
            "parse_time(\"yyyy.MM.dd G 'at' HH:mm:ss z\", 100000000, '-06:00')",
            Some(json!("1970.01.01 AD at 21:46:40 -06:00")),
        ),
        ("parse_time('yyyy', timestamp(), 'UTC')", Some(json!("2016"))),
        (
            "parse_time('yyyy-MM-dd''T''HH:mm:ss.SSSZ', 1481825251155)",
            Some(json!("2016-12-15T18:07:31.155+0000")),
        ),
        ("parse_time('EEE, d MMM yy hh:mm a', 1481825251155)", Some(json!("Thu, 15 Dec 16 06:07 PM"))),
        ("parse_time('EEEE MMMM', 1481825251155)", Some(json!("Thursday December"))),
        // Named zones need a tz database we do not carry.
        ("parse_time('yyyy', 0, 'America/Belize')", None),
        ("parse_time('qqq', 0)", None),
        ("parse_time('yyyy', 'x')", None),
    ];
    for (expr, expected) in cases {
        let out = run(V2, &format!("SELECT {expr} AS r FROM 'a'"), "{}");
        let Some(out) = out else { panic!("{expr}") };
        assert_eq!(&out.get("r").cloned(), expected, "{expr}");
    }
}

#[test]
fn time_to_epoch() {
    let cases: &[(&str, Option<Value>)] = &[
        (
            "time_to_epoch('2020-04-03 09:45:18 UTC+01:00', 'yyyy-MM-dd HH:mm:ss VV')",
            Some(json!(1585903518000_i64)),
        ),
        ("time_to_epoch('18 December 2015', 'dd MMMM yyyy')", Some(json!(1450396800000_i64))),
        (
            "time_to_epoch('2007-12-03 10:15:30.592 UTC', 'yyyy-MM-dd HH:mm:ss.SSS z')",
            Some(json!(1196676930592_i64)),
        ),
        ("time_to_epoch('20161215180731', 'yyyyMMddHHmmss')", Some(json!(1481825251000_i64))),
        (
            "time_to_epoch('Thu, 15 Dec 2016 06:07:31 PM', 'EEE, d MMM yyyy hh:mm:ss a')",
            Some(json!(1481825251000_i64)),
        ),
        (
            "time_to_epoch('2016-12-15T18:07:31+0100', 'yyyy-MM-dd''T''HH:mm:ssZ')",
            Some(json!(1481821651000_i64)),
        ),
        // A named zone needs the tz database we do not carry.
        ("time_to_epoch('2007-12-03 10:15:30.592 America/Los_Angeles', 'yyyy-MM-dd HH:mm:ss.SSS z')", None),
        ("time_to_epoch('2016-02-30', 'yyyy-MM-dd')", None),
        ("time_to_epoch('2016-12-15 extra', 'yyyy-MM-dd')", None),
    ];
    for (expr, expected) in cases {
        assert_eq!(&value(V2, expr), expected, "{expr}");
    }
    // parse_time and time_to_epoch undo each other.
    let round =
        "time_to_epoch(parse_time('yyyy-MM-dd HH:mm:ss.SSS Z', 1481825251155), 'yyyy-MM-dd HH:mm:ss.SSS Z')";
    assert_eq!(value(V2, round), Some(json!(1481825251155_i64)));
}

#[test]
fn binary_payloads() {
    let payload = [0xff_u8, 0x00, 0x10];
    let msg = message("a/b", &payload);
    let eval = |sql: &str| Statement::parse(sql, V2).unwrap().evaluate(&msg, &NoEnvironment);
    assert_eq!(eval("SELECT * FROM 'a/b'").unwrap(), Some(Output::Binary(payload.to_vec())));
    assert_eq!(
        eval("SELECT encode(*, 'base64') AS data FROM 'a/b'").unwrap(),
        Some(Output::json(json!({"data":"/wAQ"})))
    );
    assert_eq!(eval("SELECT x FROM 'a/b'").unwrap(), Some(Output::json(json!({}))));
    assert_eq!(eval("SELECT * FROM 'a/b' WHERE x = 1").unwrap(), None);
    assert_eq!(
        eval("SELECT * FROM 'a/b' WHERE topic(1) = 'a'").unwrap(),
        Some(Output::Binary(payload.to_vec()))
    );
    assert!(matches!(eval("SELECT *, 1 AS n FROM 'a/b'"), Err(EvalError::BinaryPayload(_))));
    assert_eq!(Output::json(json!({"a":1})).to_bytes(), br#"{"a":1}"#.to_vec());
    // The page's examples: a WHERE on functions only, and a field a binary payload does not have.
    assert_eq!(
        eval("SELECT * FROM 'a/b' WHERE timestamp() % 12 = 3").unwrap(),
        Some(Output::Binary(payload.to_vec()))
    );
    assert_eq!(eval("SELECT * FROM 'a/b' WHERE device_type = 'thermostat'").unwrap(), None);
    assert_eq!(
        eval("SELECT encode(*, 'base64') AS data, timestamp() AS ts FROM 'a/b'").unwrap(),
        Some(Output::json(json!({"data":"/wAQ","ts":1481825251155_i64})))
    );
    // An empty payload can have data added, like a JSON one.
    let empty = message("a/b", b"");
    let eval_empty = |sql: &str| Statement::parse(sql, V2).unwrap().evaluate(&empty, &NoEnvironment);
    assert_eq!(
        eval_empty("SELECT *, principal() as principal FROM 'a/b'").unwrap(),
        Some(Output::json(
            json!({"principal":"ba67293af50bf2506f5f93469686da660c7c844e7b3950bfb16813e0d31e9373"})
        ))
    );
    assert_eq!(eval_empty("SELECT * FROM 'a/b'").unwrap(), Some(Output::Binary(vec![])));
    assert_eq!(eval_empty("SELECT * FROM 'a/b' WHERE x = 1").unwrap(), None);
    // A JSON scalar payload is JSON: `SELECT *` gives it back.
    assert_eq!(run(V2, "SELECT * FROM 'a'", "42"), Some(json!(42)));
}

#[derive(Default)]
struct Shadows {
    calls: RefCell<Vec<(String, Option<String>, String)>>,
    executions: RefCell<Vec<FunctionExecution>>,
}

impl Environment for Shadows {
    fn get_thing_shadow(
        &self,
        thing: &str,
        shadow: Option<&str>,
        role: &str,
    ) -> Result<Option<Value>, String> {
        self.calls.borrow_mut().push((thing.into(), shadow.map(Into::into), role.into()));
        match thing {
            "MyThing" => Ok(Some(json!({"state":{"reported":{"alarm":"ON"}}}))),
            "Broken" => Err("access denied".into()),
            _ => Ok(None),
        }
    }

    fn function_executed(&self, execution: &FunctionExecution) {
        self.executions.borrow_mut().push(execution.clone());
    }
}

#[test]
fn get_thing_shadow_through_the_environment() {
    let role = "arn:aws:iam::123456789012:role/AllowsThingShadowAccess";
    let env = Shadows::default();
    let msg = message("topic/subtopic", b"{\"a\":1}");
    let named = format!(
        "SELECT * from 'topic/subtopic' WHERE get_thing_shadow(\"MyThing\",\"MyThingShadow\",\"{role}\").state.reported.alarm = 'ON'"
    );
    let st = Statement::parse(&named, V2).unwrap();
    assert_eq!(st.evaluate(&msg, &env).unwrap(), Some(Output::json(json!({"a":1}))));
    let classic = format!(
        "SELECT * from 'topic/subtopic' WHERE get_thing_shadow(\"Other\",\"{role}\").state.reported.alarm = 'ON'"
    );
    let st = Statement::parse(&classic, V2).unwrap();
    assert_eq!(st.evaluate(&msg, &env).unwrap(), None);
    assert_eq!(
        env.calls.borrow().as_slice(),
        [
            ("MyThing".to_string(), Some("MyThingShadow".to_string()), role.to_string()),
            ("Other".to_string(), None, role.to_string()),
        ]
    );
    let st =
        Statement::parse(&format!("SELECT get_thing_shadow('Broken', '{role}') AS s FROM 'a'"), V2).unwrap();
    assert_eq!(
        st.evaluate(&msg, &env),
        Err(EvalError::Function { function: "get_thing_shadow".into(), message: "access denied".into() })
    );
    let outcomes: Vec<_> = env.executions.borrow().iter().map(|e| e.outcome.clone()).collect();
    assert_eq!(outcomes, [Ok(()), Ok(()), Err("access denied".to_string())]);
    let first = &env.executions.borrow()[0];
    assert_eq!((first.function.as_str(), first.rule_action.as_str()), ("get_thing_shadow", "GetThingShadow"));
    assert_eq!(
        Value::Object(first.resources.clone()),
        json!({"ThingName":"MyThing","ShadowName":"MyThingShadow"})
    );
    assert_eq!(Value::Object(env.executions.borrow()[1].resources.clone()), json!({"ThingName":"Other"}));
    // Without an environment that has shadows, the call fails and stops the rule.
    let st =
        Statement::parse(&format!("SELECT get_thing_shadow('MyThing', '{role}') AS s FROM 'a'"), V2).unwrap();
    assert!(matches!(st.evaluate(&msg, &NoEnvironment), Err(EvalError::Function { .. })));
}

#[test]
fn parse_errors_point_at_the_problem() {
    let cases: &[(SqlVersion, &str, &str)] = &[
        (V1, "SELECT FROM 't'", "Expected an expression or '*' but found 'FROM' at 1:8"),
        (V1, "SELECT a FROM t", "Expected a topic filter in quotes but found 't' at 1:15"),
        (V1, "SELECT a b FROM 't'", "Expected ',' or FROM but found 'b' at 1:10"),
        (
            V1,
            "SELECT a FROM 'a/#/b'",
            "Invalid topic filter 'a/#/b': '#' must be the last level on its own at 1:15",
        ),
        (V1, "SELECT a FROM 'a/b+'", "Invalid topic filter 'a/b+': '+' must be a level on its own at 1:15"),
        (V1, "SELECT a FROM ''", "The topic filter is empty at 1:15"),
        (V1, "SELECT a FROM 't' WHERE", "Expected an expression but found end of statement at 1:24"),
        (V1, "SELECT a FROM 't' WHERE b = 1 c", "Unexpected 'c' after the statement at 1:31"),
        (V1, "SELECT (a FROM 't'", "Expected ')' but found 'FROM' at 1:11"),
        // The string runs to the next quote, so the last quote opens an unterminated one.
        (V1, "SELECT 'abc FROM 't'", "Unterminated string literal at 1:20"),
        (V1, "SELECT a\nFROM 't'\nWHERE a = ?", "Unexpected character '?' at 3:11"),
        (V1, "SELECT nosuch(a) FROM 't'", "Unknown function 'nosuch' in SQL version 2015-10-08 at 1:8"),
        (
            V1,
            "SELECT encode(*, 'base64') FROM 't'",
            "Unknown function 'encode' in SQL version 2015-10-08 at 1:8",
        ),
        (
            V1,
            "SELECT indexof('a', 'b') FROM 't'",
            "Unknown function 'indexof' in SQL version 2015-10-08 at 1:8",
        ),
        (V1, "SELECT abs(1, 2) FROM 't'", "Function 'abs' takes 1 arguments, not 2 at 1:8"),
        (V2, "SELECT substring('a') FROM 't'", "Function 'substring' takes 2 to 3 arguments, not 1 at 1:8"),
        (V1, "SELECT CASE a ELSE 1 END FROM 't'", "Expected WHEN but found 'ELSE' at 1:15"),
        (V1, "SELECT CASE a WHEN 1 THEN 2 FROM 't'", "Expected WHEN, ELSE or END but found 'FROM' at 1:29"),
        (V1, "SELECT cast(a AS Bool) FROM 't'", "Unknown cast type 'Bool' at 1:18"),
        (V2, "SELECT cast(a AS Widget) FROM 't'", "Unknown cast type 'Widget' at 1:18"),
        (V1, "SELECT {'a': 1} AS o FROM 't'", "An object literal requires SQL version 2016-03-23 at 1:8"),
        (V1, "SELECT [1] AS o FROM 't'", "An array literal requires SQL version 2016-03-23 at 1:8"),
        (V2, "SELECT {'a' 1} AS o FROM 't'", "Expected ':' but found '1' at 1:13"),
        (V2, "SELECT [1 2] AS o FROM 't'", "Expected ',' or ']' but found '2' at 1:11"),
        (V1, "SELECT VALUE a, b FROM 't'", "SELECT VALUE takes exactly one expression at 1:15"),
        (V1, "SELECT VALUE * FROM 't'", "SELECT VALUE takes one expression, not '*' at 1:14"),
        (V1, "SELECT a.1 FROM 't'", "Expected a field name after '.' but found '1' at 1:10"),
        (V1, "SELECT a FROM 't' WHERE a = 'x", "Unterminated string literal at 1:29"),
        (V1, "UPDATE t", "Expected select but found 'UPDATE' at 1:1"),
        (V1, "SELECT a AS FROM 't'", "Expected an alias but found 'FROM' at 1:13"),
        (V1, "SELECT a FROM 't' WHERE select = 1", "Expected an expression but found 'select' at 1:25"),
    ];
    for (version, sql, message) in cases {
        match Statement::parse(sql, *version) {
            Ok(st) => panic!("{sql} parsed: {st:?}"),
            Err(e) => assert_eq!(e.to_string(), *message, "{sql}"),
        }
    }
    let deep = format!("SELECT {}1{} FROM 't'", "(".repeat(100_000), ")".repeat(100_000));
    let e = Statement::parse(&deep, V1).unwrap_err();
    assert_eq!(e.message, "Expressions nest deeper than 128 levels");
    let long = format!("SELECT 1{} FROM 't'", " + 1".repeat(100_000));
    assert_eq!(Statement::parse(&long, V1).unwrap_err().message, "Expressions nest deeper than 128 levels");
    let chain = format!("SELECT 1{} AS n FROM 't'", " + 1".repeat(100));
    assert_eq!(run(V1, &chain, "{}"), Some(json!({"n":101})));
    for prefix in ["NOT ", "- "] {
        let e = Statement::parse(&format!("SELECT {}1 FROM 't'", prefix.repeat(100_000)), V1).unwrap_err();
        assert_eq!(e.message, "Expressions nest deeper than 128 levels");
    }
    assert!(Statement::parse(&format!("SELECT {}1{} AS a FROM 't'", "(".repeat(100), ")".repeat(100)), V1)
        .is_ok());
    use iotemu_core::ServiceError as _;
    assert_eq!((e.http_status(), e.error_type()), (400, "SqlParseException"));
    let e = Statement::parse("SELECT a\n  FROM t", V1).unwrap_err();
    assert_eq!((e.position.line, e.position.column, e.position.offset), (2, 8, 16));
}

#[test]
fn statements_that_parse() {
    let ok = [
        "select * from 'a/+/c'",
        "SELECT * FROM '#'",
        "SELECT a.b.c, d[0][1], -x AS y FROM 'a' WHERE NOT (a = 1 OR b <> 2) AND c >= 3",
        "SELECT \"double quoted\" AS s, 'it''s' AS t FROM 'a'",
        "SELECT 1.5e3 AS n, 2E-2 AS m FROM 'a'",
        "SELECT encode(*, 'base64') AS b FROM 'a'",
    ];
    for sql in ok {
        assert!(Statement::parse(sql, V2).is_ok(), "{sql}");
    }
    assert_eq!(value(V2, "'it''s'"), Some(json!("it's")));
    assert_eq!(value(V2, "1.5e3"), Some(json!(1500)));
    let st = Statement::parse("SELECT * FROM 'a/+/c'", V1).unwrap();
    assert_eq!(st.topic_filter(), "a/+/c");
    assert!(st.matches_topic("a/b/c"));
    assert_eq!(st.version(), V1);
}

#[test]
fn topic_filters() {
    let cases = [
        ("topic/subtopic", "topic/subtopic", true),
        ("topic/subtopic", "topic/subtopic-2", false),
        ("topic/#", "topic/subtopic", true),
        ("topic/#", "topic/subtopic-2", true),
        ("topic/#", "topic/subtopic-3/details", true),
        ("topic/#", "topic-2/subtopic-x", false),
        ("topic/#", "topic", false),
        ("topic/#", "topic/", true),
        ("#", "topic", true),
        ("topic/+", "topic/subtopic", true),
        ("topic/+", "topic/subtopic-2", true),
        ("topic/+", "topic/subtopic-3/details", false),
        ("topic/+", "topic-2/subtopic-x", false),
        ("+/+", "a/b", true),
        ("+", "a/b", false),
        ("#", "a/b/c", true),
        ("a/+/c", "a//c", true),
        ("#", "$aws/things/x/shadow/update", false),
        ("$aws/things/+/shadow/update", "$aws/things/x/shadow/update", true),
    ];
    for (filter, topic, expected) in cases {
        assert_eq!(topic_matches(filter, topic), expected, "{filter} vs {topic}");
    }
}

#[test]
fn prefixes_and_mutations_never_panic() {
    let statements = [
        "SELECT (temperature - 32) * 5 / 9 AS celsius, upper(color) as my_color FROM 'topic/subtopic'",
        "SELECT CASE color WHEN 'green' THEN 'go' ELSE 'x' END as i FROM 'a/#' WHERE NOT a.b[0] <> 'é'",
        "SELECT VALUE transform('enrichArray', (select a, b from data2), (select value c from data2)) from 'A/B'",
        "SELECT {'k': [1, 2.5e3, \"s\"]}, cast(x AS Boolean), parse_time('yyyy', 0) FROM '+/x' WHERE a % 2 = 1",
    ];
    let payloads: [&[u8]; 3] =
        [br#"{"temperature":50,"color":"red","a":{"b":["x"]},"data2":{"a":1}}"#, b"\xff", b""];
    for sql in statements {
        for (cut, _) in sql.char_indices() {
            for candidate in [&sql[..cut], &format!("{}){}", &sql[..cut], &sql[cut..])] {
                for version in [V1, V2] {
                    if let Ok(st) = Statement::parse(candidate, version) {
                        for payload in payloads {
                            let _ = st.evaluate(&message("a/b", payload), &NoEnvironment);
                        }
                    }
                }
            }
        }
    }
}

/// Found by review while adding the fuzz target: unary `+`, `.name`/`[i]` chains, nested SELECTs
/// in FROM and `AS a.b...` paths did not count toward the depth limit, so a long enough statement
/// overflowed the stack (parsing, evaluating or dropping it). Deep ones are now parse errors,
/// and the deepest accepted ones still evaluate.
#[test]
fn every_nesting_construct_counts_toward_the_depth_limit() {
    let deep = |n: usize| {
        [
            format!("SELECT {}1 AS a FROM 't'", "+".repeat(n)),
            format!("SELECT a{} AS b FROM 't'", ".b".repeat(n)),
            format!("SELECT a{} AS b FROM 't'", "[0]".repeat(n)),
            format!("SELECT 1 FROM 't' WHERE {}1{}", "(SELECT * FROM ".repeat(n), ")".repeat(n)),
            format!("SELECT VALUE {}[1]{} FROM 't'", "(SELECT VALUE 1 FROM ".repeat(n), ")".repeat(n)),
        ]
    };
    for sql in deep(100_000) {
        let e = Statement::parse(&sql, V2).unwrap_err();
        assert_eq!(e.message, "Expressions nest deeper than 128 levels", "{}", &sql[..40]);
    }
    for sql in deep(120) {
        let st = Statement::parse(&sql, V2).unwrap_or_else(|e| panic!("{}: {e}", &sql[..40]));
        for payload in [&br#"{"a":[[{"b":1}]]}"#[..], b"\xff", b""] {
            let _ = st.evaluate(&message("t", payload), &NoEnvironment);
        }
    }
    let alias = format!("SELECT 1 AS a{} FROM 't'", ".b".repeat(100_000));
    assert_eq!(Statement::parse(&alias, V1).unwrap_err().message, "Aliases nest deeper than 128 levels");
    let alias = format!("SELECT 1 AS a{} FROM 't'", ".b".repeat(127));
    let out = run(V1, &alias, "{}").unwrap_or_default();
    assert_eq!(out.to_string().matches('{').count(), 128);
}

/// Found by review while adding the fuzz target: a statement of a few hundred bytes could make
/// one evaluation build gigabytes (nested `replace`s multiply a string, nested queries over
/// arrays multiply the elements) and abort the process; the evaluation now has a budget.
#[test]
fn evaluation_has_a_budget() {
    let expensive = |sql: &str| {
        let st = Statement::parse(sql, V2).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(st.evaluate(&message("t", b"{}"), &NoEnvironment), Err(EvalError::TooExpensive), "{sql}");
    };
    let mut e = "'ab'".to_string();
    for _ in 0..9 {
        e = format!("replace({e}, '', 'xxxxxxxxx')");
    }
    expensive(&format!("SELECT {e} AS a FROM 't'"));
    let mut e = "'ab'".to_string();
    for _ in 0..4 {
        e = format!("regexp_replace({e}, '.', '{}$0')", "x".repeat(1000));
    }
    expensive(&format!("SELECT {e} AS a FROM 't'"));
    // (With `1` instead of the string it stops as well, after 2^24 steps: too slow for a debug test.)
    let mut e = format!("'{}'", "x".repeat(100));
    for _ in 0..8 {
        e = format!("(SELECT VALUE {e} FROM [1,1,1,1,1,1,1,1,1,1])");
    }
    expensive(&format!("SELECT {e} AS a FROM 't'"));
    // Within the budget they evaluate as before.
    assert_eq!(value(V2, "replace(replace('ab', '', 'x'), 'x', 'yy')"), Some(json!("yyayybyy")));
    assert_eq!(value(V2, "regexp_replace('abc', '(b)', '$1$1\\$')"), Some(json!("abb$c")));
    assert_eq!(value(V2, "regexp_replace('abc', '', '-')"), Some(json!("-a-b-c-")));
    let nested = "(SELECT VALUE (SELECT VALUE 1 FROM [1,1]) FROM [1,1,1])";
    assert_eq!(value(V2, nested), Some(json!([[1, 1], [1, 1], [1, 1]])));
}
