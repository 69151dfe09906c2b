// An independent LoRaWAN 1.0.x device for iotemu's end-to-end tests: lora-packet (a maintained
// LoRaWAN codec, not iotemu's code) builds and reads every frame. One JSON request per line on
// stdin, one JSON answer per line on stdout; byte fields are hex, EUIs and DevAddr big-endian.
"use strict";
const readline = require("readline");
const lora = require("lora-packet");

const hex = (b) => Buffer.from(b).toString("hex");
const buf = (h) => Buffer.from(h, "hex");

const ops = {
  // A join-request signed with the AppKey.
  join_request(r) {
    const packet = lora.fromFields(
      { MType: "Join Request", AppEUI: buf(r.AppEUI), DevEUI: buf(r.DevEUI), DevNonce: buf(r.DevNonce) },
      null, null, buf(r.AppKey));
    return { phy: hex(packet.getPHYPayload()) };
  },
  // Decrypts a join-accept, checks its MIC and derives the session keys.
  join_accept(r) {
    const packet = lora.fromWire(lora.decryptJoinAccept(lora.fromWire(buf(r.phy)), buf(r.AppKey)));
    const b = packet.getBuffers();
    const keys = lora.generateSessionKeys(buf(r.AppKey), b.NetID, b.AppNonce, buf(r.DevNonce));
    return {
      mic_ok: lora.verifyMIC(packet, null, buf(r.AppKey)),
      DevAddr: hex(b.DevAddr), NetID: hex(b.NetID), AppNonce: hex(b.AppNonce),
      NwkSKey: hex(keys.NwkSKey), AppSKey: hex(keys.AppSKey),
    };
  },
  // A data uplink, encrypted with AppSKey and signed with NwkSKey.
  uplink(r) {
    const packet = lora.fromFields(
      { MType: r.confirmed ? "Confirmed Data Up" : "Unconfirmed Data Up", DevAddr: buf(r.DevAddr),
        FCtrl: { ADR: false, ACK: !!r.ack }, FCnt: r.FCnt, FPort: r.FPort, payload: buf(r.payload) },
      buf(r.AppSKey), buf(r.NwkSKey));
    return { phy: hex(packet.getPHYPayload()) };
  },
  // Reads a data downlink: its MIC, counter, port and decrypted payload.
  downlink(r) {
    const packet = lora.fromWire(buf(r.phy));
    const payload = packet.getFPort() === null ? Buffer.alloc(0) : lora.decrypt(packet, buf(r.AppSKey), buf(r.NwkSKey));
    return {
      mtype: packet.getMType(), mic_ok: lora.verifyMIC(packet, buf(r.NwkSKey)), FCnt: packet.getFCnt(),
      FPort: packet.getFPort(), ack: packet.getFCtrlACK(), DevAddr: hex(packet.getBuffers().DevAddr),
      payload: hex(payload),
    };
  },
};

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  let answer;
  try {
    const request = JSON.parse(line);
    answer = ops[request.op](request);
  } catch (e) {
    answer = { error: String(e) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
