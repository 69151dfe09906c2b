#!/usr/bin/env python3
"""Extracts from botocore's service models (Apache-2.0, (c) Amazon.com, Inc. or its affiliates)
the two small tables iotemu is driven by, into crates/api/model/:

- operations.json: every operation of the services iotemu serves (iot, iot-data, iot-jobs-data,
  logs, iotwireless) with its HTTP method and request URI (REST services), so that a request
  iotemu does not implement is answered with the operation's name, and docs/coverage.md lists
  every operation (scripts/coverage_table.py).
- constraints.json: the pattern and length constraints of the name members AWS validates
  (ruleName, thingName, thingTypeName, thingGroupName, policyName, jobId, ...) per operation and
  URI label, for AWS's "1 validation error detected" answers.

Run with the repository's virtualenv (its botocore is the source):
    .venv/bin/python scripts/botocore_tables.py
Only names, methods, URIs and constraints are taken from the models."""
import json
import pathlib

import botocore
import botocore.loaders

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "crates" / "api" / "model"
# SigV4 service name (the credential scope iotemu dispatches on) -> botocore model name.
SERVICES = {"iot": "iot", "iotdata": "iot-data", "iot-jobs-data": "iot-jobs-data", "logs": "logs",
            "iotwireless": "iotwireless"}
# The members whose constraints iotemu checks (at least rule, thing, thing type, group, policy
# and job names, issue 16).
VALIDATED = {"ruleName", "thingName", "thingTypeName", "thingGroupName", "policyName", "jobId",
             "jobTemplateId", "templateName", "shadowName", "billingGroupName"}


def main():
    loader = botocore.loaders.Loader()
    operations, constraints = {}, {}
    for sigv4, name in SERVICES.items():
        model = loader.load_service_model(name, "service-2")
        shapes = model["shapes"]
        ops = {}
        for op_name, op in sorted(model["operations"].items()):
            entry = {}
            if "requestUri" in op.get("http", {}) and model["metadata"]["protocol"].startswith("rest"):
                entry = {"method": op["http"]["method"], "uri": op["http"]["requestUri"]}
            ops[op_name] = entry
            input_shape = shapes.get(op.get("input", {}).get("shape", ""), {})
            for member, spec in input_shape.get("members", {}).items():
                if member not in VALIDATED or spec.get("location") != "uri":
                    continue
                shape = shapes[spec["shape"]]
                rule = {k: shape[k] for k in ("pattern", "min", "max") if k in shape}
                if rule:
                    constraints.setdefault(sigv4, {}).setdefault(op_name, {})[spec["locationName"]] = rule
        operations[sigv4] = {"model": name, "operations": ops}
    header = {"source": f"botocore {botocore.__version__} (Apache-2.0), scripts/botocore_tables.py"}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "operations.json").write_text(json.dumps({**header, "services": operations}, indent=1, sort_keys=True) + "\n")
    (OUT / "constraints.json").write_text(json.dumps({**header, "services": constraints}, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
