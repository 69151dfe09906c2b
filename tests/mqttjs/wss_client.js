// mqtt.js over WSS: connects to the presigned URL argv[2] trusting the CA in argv[3] as client
// id argv[4], subscribes to argv[5], publishes one QoS 1 message there and prints one JSON line:
// {"connected":true,"received":["topic"]}. Exits 1 on any error or after 10 s.
"use strict";
const fs = require("fs");
const mqtt = require("mqtt");

const [url, caPath, clientId, topic] = process.argv.slice(2);
const result = { connected: false, received: [] };
const finish = (code) => {
  console.log(JSON.stringify(result));
  process.exit(code);
};
setTimeout(() => finish(1), 10000);

const client = mqtt.connect(url, {
  ca: fs.readFileSync(caPath),
  clientId,
  protocolVersion: 5,
  reconnectPeriod: 0,
});
client.on("error", (e) => {
  result.error = String(e);
  finish(1);
});
client.on("connect", () => {
  result.connected = true;
  client.subscribe(topic, { qos: 1 }, (err) => {
    if (err) {
      result.error = String(err);
      return finish(1);
    }
    client.publish(topic, '{"from":"mqtt.js"}', { qos: 1 });
  });
});
client.on("message", (received) => {
  result.received.push(received);
  client.end(false, {}, () => finish(0));
});
