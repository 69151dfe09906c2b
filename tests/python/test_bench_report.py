"""scripts/bench_json.py and scripts/bench-report.py: figures written in the shared results format
come out in one table, report.json and a bar chart with met/missed colours. No timing is measured
or asserted here; the inputs are sample figures."""
import json
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH_JSON = ROOT / "scripts" / "bench_json.py"
REPORT = ROOT / "scripts" / "bench-report.py"
SVG_NS = "{http://www.w3.org/2000/svg}"


def run(*args):
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def add(path, *args):
    run(BENCH_JSON, "add", "--file", path, *args)


def test_figures_from_several_scripts_make_one_table_json_and_chart(tmp_path):
    scale = tmp_path / "bench-scale.json"
    add(scale, "--script", "bench-scale", "--area", "scale", "--name", "RSS with 100,000 idle connections",
        "--unit", "MB", "--value", "median", "--runs", "700,650,800", "--target-op", "<", "--target-value", "1024")
    add(scale, "--area", "scale", "--name", "10,000-connection storm", "--unit", "connects/s",
        "--value", "8000", "--ref-name", "mosquitto", "--ref-value", "10000",
        "--target-op", ">=", "--target-value", "1.0", "--target-on-ratio")
    # A file written by another script directly, without "met": the report judges it itself.
    (tmp_path / "bench-shadow.json").write_text(json.dumps({
        "script": "bench-shadow", "started": "2026-12-03T07:40:00Z",
        "machine": {"cores": 2, "note": "other builds running"}, "runs": 3,
        "figures": [{"area": "shadows", "name": "update->accepted p99", "unit": "ms", "value": 2.5,
                     "runs": [2.4, 2.5, 2.9], "target": {"op": "<", "value": 2.0}}],
    }))
    (tmp_path / "broken.json").write_text("{not json")

    doc = json.loads(scale.read_text())
    assert doc["script"] == "bench-scale" and doc["machine"]["cores"] >= 1
    rss, storm = doc["figures"]
    assert rss["value"] == 700 and rss["runs"] == [700, 650, 800] and rss["met"] is True
    assert storm["ratio"] == 0.8 and storm["met"] is False

    out = run(REPORT, "--dir", tmp_path)
    row = next(ln for ln in out.splitlines() if "update->accepted p99" in ln)
    assert row.startswith("shadows") and row.rstrip().endswith("NO") and "< 2" in row
    row = next(ln for ln in out.splitlines() if "RSS with 100,000" in ln)
    assert "700" in row and "< 1,024" in row and row.rstrip().endswith("yes")
    row = next(ln for ln in out.splitlines() if "storm" in ln)
    assert "mosquitto 10,000" in row and "0.8" in row and ">= 1.0x" in row and row.rstrip().endswith("NO")
    assert "targets met: 1/3" in out

    report = json.loads((tmp_path / "report.json").read_text())
    assert {f["script"] for f in report["figures"]} == {"bench-scale", "bench-shadow"}
    assert {s["file"] for s in report["sources"]} == {"bench-scale.json", "bench-shadow.json"}

    svg = ET.parse(tmp_path / "report.svg").getroot()
    assert svg.tag == SVG_NS + "svg"
    bars = [r for r in svg.iter(SVG_NS + "rect") if r.get("class") == "bar"]
    assert sorted(b.get("data-met") for b in bars) == ["NO", "NO", "yes"]
    colours = {b.get("data-met"): b.get("fill") for b in bars}
    assert colours["yes"] != colours["NO"]
    labels = [t.text for t in svg.iter(SVG_NS + "text") if t.get("class") == "figure"]
    assert any("update-&gt;accepted" in (t or "") or "update->accepted" in (t or "") for t in labels)
    # Bars in table order (shadows, then scale): 2.5 ms against < 2 ms is 1.25x its target,
    # 700 MB against < 1,024 MB is 0.68x, so the first bar is longer than the second.
    assert [b.get("data-met") for b in bars] == ["NO", "yes", "NO"]
    assert float(bars[0].get("width")) > float(bars[1].get("width"))

def test_loadgen_suite_lines_become_broker_and_dropped_entry_figures(tmp_path):
    lines = [
        {"label": "mosquitto", "scenario": "connects", "metric": "connects_per_s", "run": 1, "value": 10000},
        {"label": "mosquitto", "scenario": "connects", "metric": "connects_per_s", "run": 2, "value": 12000},
        {"label": "iotemu-debug", "scenario": "connects", "metric": "connects_per_s", "run": 1, "value": 13000},
        {"label": "iotemu-debug", "scenario": "connects", "metric": "connects_per_s", "run": 2, "value": 14000},
        {"label": "mosquitto", "scenario": "tput_pairs_q1", "metric": "deliveries_per_s", "run": 1,
         "value": 50000},
        {"label": "iotemu-debug", "scenario": "tput_pairs_q1", "metric": "deliveries_per_s", "run": 1,
         "value": 40000, "rate_searched": True, "peak_log_dropped": 5000},
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    out = tmp_path / "bench.json"
    run(BENCH_JSON, "loadgen", "--file", out, "--script", "bench", "--results", results)
    doc = json.loads(out.read_text())
    assert doc["runs"] == 2
    by_name = {f["name"]: f for f in doc["figures"]}
    conn = by_name["connects (1000 clients) (iotemu-debug)"]
    assert conn["area"] == "broker" and conn["value"] == 13500 and conn["reference"]["value"] == 11000
    assert conn["met"] is True
    pairs = by_name["50 pairs, QoS1 (iotemu-debug)"]
    assert pairs["ratio"] == 0.8 and pairs["met"] is False
    dropped = next(f for f in doc["figures"] if f["area"] == "log pipeline")
    assert dropped["value"] == 5000 and dropped["target"] == {"op": "<=", "value": 0} and dropped["met"] is False

    table = run(REPORT, "--dir", tmp_path)
    assert "logEntriesDropped" in table and "targets met: 1/3" in table
