"""The fleet index's benchmark (not a test).

1. SearchIndex latency over N things (default 100,000): a fresh iotemu (ephemeral) gets N things
   with attributes `temperature` (0-99) and `floor` (0-9) through CreateThing over HTTP
   (several threads), REGISTRY_AND_SHADOW indexing is turned on, then each query below is asked
   20 times; p50 and p99 in milliseconds are reported, with the number of things it matched.
2. Shadow update to membership: a dynamic group `shadow.reported.lamp:on`; UpdateThingShadow on a
   thing, then ListThingsInThingGroup is polled every 5 ms until the thing is listed; p50 and max
   over 20 rounds (the poll adds up to 5 ms and one request).

Usage: python benches/fleet_index.py IOTEMU_BIN [N]
"""
import concurrent.futures
import json
import re
import statistics
import subprocess
import sys
import time

import boto3

QUERIES = [
    "thingName:t0001*",
    "attributes.temperature>90",
    "attributes.temperature:[10 TO 20] AND attributes.floor:3",
    "NOT attributes.floor:[1 TO 9]",
]


def start(binary):
    process = subprocess.Popen(
        [binary, "serve", "--ephemeral", "--mqtt-port", "0", "--mqtts-port", "0", "--api-port", "0",
         "--lns-port", "0", "--no-stdout-logs", "--log-level", "ERROR"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        match = re.match(r"iotemu listening mqtt=(\S+) mqtts=(\S+) api=(\S+)", line)
        if match:
            return process, f"http://{match.group(3)}"
    raise RuntimeError("iotemu exited before listening")


def client(endpoint, service="iot"):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    process, endpoint = start(binary)
    try:
        started = time.time()

        def create(chunk):
            iot = client(endpoint)
            for i in chunk:
                iot.create_thing(thingName=f"t{i:06}", attributePayload={"attributes": {
                    "temperature": str(i % 100), "floor": str(i % 10)}})

        chunks = [range(k, n, 8) for k in range(8)]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(create, chunks))
        print(f"created {n} things in {time.time() - started:.1f} s")
        iot = client(endpoint)
        started = time.time()
        iot.update_indexing_configuration(thingIndexingConfiguration={"thingIndexingMode": "REGISTRY_AND_SHADOW"})
        print(f"indexing turned on (index rebuilt) in {time.time() - started:.2f} s")
        for query in QUERIES:
            times, matched = [], 0
            for _ in range(20):
                t0 = time.perf_counter()
                page = iot.search_index(queryString=query, maxResults=100)
                times.append((time.perf_counter() - t0) * 1000)
                matched = len(page["things"])
            times.sort()
            print(f"SearchIndex {query!r}: p50 {statistics.median(times):.1f} ms, "
                  f"p99 {times[int(len(times) * 0.99) - 1]:.1f} ms ({matched} on the first page of 100)")
        t0 = time.perf_counter()
        total = iot.get_statistics(queryString="attributes.temperature>49")["statistics"]["count"]
        print(f"GetStatistics count over the index: {total} in {(time.perf_counter() - t0) * 1000:.1f} ms")

        data = client(endpoint, "iot-data")
        iot.create_dynamic_thing_group(thingGroupName="Lit", queryString="shadow.reported.lamp:on")
        while iot.describe_thing_group(thingGroupName="Lit")["status"] != "ACTIVE":
            time.sleep(0.1)
        delays = []
        for r in range(20):
            thing = f"t{r:06}"
            t0 = time.perf_counter()
            data.update_thing_shadow(thingName=thing, payload=json.dumps({"state": {"reported": {"lamp": "on"}}}))
            while thing not in iot.list_things_in_thing_group(thingGroupName="Lit", maxResults=250)["things"]:
                time.sleep(0.005)
            delays.append((time.perf_counter() - t0) * 1000)
        print(f"shadow update -> membership: p50 {statistics.median(delays):.1f} ms, max {max(delays):.1f} ms")
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
