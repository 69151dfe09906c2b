"""Connects to iotemu with the AWS IoT Device SDK v2 (awsiotsdk) over mutual TLS, subscribes,
publishes and waits for its own message, then disconnects. The SDK checks the server
certificate strictly (its SANs must hold localhost and 127.0.0.1), so this proves the
emulator's TLS identity works with AWS's own client.

Usage: device_sdk_roundtrip.py HOST PORT CERT KEY CA CLIENT_ID TOPIC
Prints "received <payload>" and exits 0 on success.
"""
import sys
import threading

from awscrt import mqtt
from awsiot import mqtt_connection_builder


def main(host, port, cert, key, ca, client_id, topic):
    received = threading.Event()
    payloads = []

    def on_message(topic, payload, **kwargs):
        payloads.append(payload.decode())
        received.set()

    connection = mqtt_connection_builder.mtls_from_path(
        endpoint=host,
        port=int(port),
        cert_filepath=cert,
        pri_key_filepath=key,
        ca_filepath=ca,
        client_id=client_id,
        clean_session=True,
        keep_alive_secs=30,
    )
    connection.connect().result(timeout=10)
    subscribe, _ = connection.subscribe(topic=topic, qos=mqtt.QoS.AT_LEAST_ONCE, callback=on_message)
    subscribe.result(timeout=10)
    publish, _ = connection.publish(topic=topic, payload='{"from":"device-sdk"}', qos=mqtt.QoS.AT_LEAST_ONCE)
    publish.result(timeout=10)
    if not received.wait(timeout=10):
        print("no message received", file=sys.stderr)
        return 1
    connection.disconnect().result(timeout=10)
    print("received " + payloads[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:8]))
