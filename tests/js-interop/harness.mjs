// The JS side of the interop harness: one @waku/sds MessageChannel driven by commands.
//
// Protocol: one JSON object per line on stdin, one JSON reply per line on stdout (nothing
// else is written to stdout). Binary values (payloads, wire bytes) are base64. Commands:
//
//   {"op":"init","channel":"room","sender":"js","repair":true} -> {"ok":true}
//   {"op":"send","payload":B64}                             -> {"id":..,"wire":B64}
//   {"op":"ephemeral","payload":B64}                        -> {"wire":B64}
//   {"op":"sync"}                                           -> {"wire":B64|null}
//   {"op":"recv","wire":B64}                                -> {"events":[...]}
//   {"op":"repairs"}                                        -> {"wires":[B64...]}
//   {"op":"unacknowledged"}                                 -> {"ids":[...]}
//   {"op":"resend"}   re-pushes unacknowledged payloads     -> {"wires":[B64...]}
//   {"op":"quit"}
//
// Every reply also carries "events": what the channel emitted since the last reply, as
// {"type":"delivered","id","content":B64,"history":[ids]} | {"type":"acknowledged","id"}
// | {"type":"possibly_acknowledged","id","count"} | {"type":"missing","ids"}
// | {"type":"ephemeral","id","content"} | {"type":"repair_request_received","ids"}
// | {"type":"error","message"}. A delivered event also lists "buffered_deps": the
// dependencies that were still in the channel's incoming buffer (received, not
// delivered) when it was delivered — @waku/sds counts those as available.
//
// The process leaves on "quit" or at the end of stdin.
//
// Repair timing: tMin 0 and tMax 1 make SDS-R requests and responses due at once, so the
// harness needs no clock of its own (the library's clock is injected by the Rust side).

import { createInterface } from "node:readline";
import {
  Message,
  MessageChannel,
  MessageChannelEvent,
  isEphemeralMessage
} from "@waku/sds";

const b64 = (u) => Buffer.from(u).toString("base64");
const unb64 = (s) => new Uint8Array(Buffer.from(s, "base64"));

let channel;
let events = [];
const received = new Map(); // id -> decoded message (for delivery details)
const sentPayloads = new Map(); // id -> payload (for resends)

function listen(ch) {
  const on = (name, f) => ch.addEventListener(name, (e) => f(e.detail));
  on(MessageChannelEvent.InMessageDelivered, (id) => {
    const m = received.get(id);
    events.push({
      type: "delivered",
      id,
      content: m ? b64(m.content ?? new Uint8Array()) : null,
      history: m ? m.causalHistory.map((h) => h.messageId) : [],
      // incomingBuffer is private in the TypeScript types, not at run time.
      buffered_deps: m
        ? m.causalHistory
            .map((h) => h.messageId)
            .filter((d) => ch.incomingBuffer.some((b) => b.messageId === d))
        : []
    });
  });
  on(MessageChannelEvent.OutMessageAcknowledged, (id) =>
    events.push({ type: "acknowledged", id })
  );
  on(MessageChannelEvent.OutMessagePossiblyAcknowledged, (d) =>
    events.push({ type: "possibly_acknowledged", id: d.messageId, count: d.count })
  );
  on(MessageChannelEvent.InMessageMissing, (entries) => {
    if (entries.length) {
      events.push({ type: "missing", ids: entries.map((e) => e.messageId) });
    }
  });
  on(MessageChannelEvent.RepairRequestReceived, (d) =>
    events.push({ type: "repair_request_received", ids: d.messageIds })
  );
  on(MessageChannelEvent.ErrorTask, (d) =>
    events.push({ type: "error", message: String(d?.error ?? d) })
  );
}

async function send(payload) {
  let wire = null;
  channel.pushOutgoingMessage(payload, async (m) => {
    wire = m.encode();
    return { success: true, retrievalHint: new TextEncoder().encode("hint-" + m.messageId.slice(0, 8)) };
  });
  await channel.processTasks();
  const id = MessageChannel.getMessageId(payload);
  sentPayloads.set(id, payload);
  return { id, wire: wire && b64(wire) };
}

const handlers = {
  async init({ channel: channelId, sender, repair = true }) {
    channel = new MessageChannel(channelId, sender, {
      enableRepair: repair,
      repairConfig: { tMin: 0, tMax: 1 }
    });
    listen(channel);
    return { ok: true };
  },
  async send({ payload }) {
    return send(unb64(payload));
  },
  async ephemeral({ payload }) {
    let wire = null;
    await channel.pushOutgoingEphemeralMessage(unb64(payload), async (m) => {
      wire = m.encode();
      return true;
    });
    await channel.processTasks();
    return { wire: wire && b64(wire) };
  },
  async sync() {
    let wire = null;
    await channel.pushOutgoingSyncMessage(async (m) => {
      wire = m.encode();
      return true;
    });
    return { wire: wire && b64(wire) };
  },
  async recv({ wire }) {
    const m = Message.decode(unb64(wire));
    if (!m) {
      events.push({ type: "error", message: "undecodable" });
      return {};
    }
    if (isEphemeralMessage(m)) {
      // @waku/sds emits no event for an ephemeral message; report what it would deliver.
      events.push({ type: "ephemeral", id: m.messageId, content: b64(m.content) });
    }
    if (!received.has(m.messageId)) {
      received.set(m.messageId, m);
    }
    channel.pushIncomingMessage(m, undefined);
    await channel.processTasks();
    channel.sweepIncomingBuffer();
    return {};
  },
  async repairs() {
    const wires = [];
    await channel.sweepRepairIncomingBuffer(async (m) => {
      wires.push(b64(m.encode()));
      return true;
    });
    return { wires };
  },
  async unacknowledged() {
    return { ids: channel.sweepOutgoingBuffer().unacknowledged.map((m) => m.messageId) };
  },
  async resend() {
    const wires = [];
    const { unacknowledged, possiblyAcknowledged } = channel.sweepOutgoingBuffer();
    for (const m of unacknowledged.concat(possiblyAcknowledged)) {
      const { wire } = await send(sentPayloads.get(m.messageId));
      if (wire) wires.push(wire);
    }
    return { wires };
  }
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  if (command.op === "quit") break;
  let reply;
  try {
    reply = await handlers[command.op](command);
  } catch (error) {
    reply = { failed: String(error?.stack ?? error) };
  }
  reply.events = events;
  events = [];
  process.stdout.write(JSON.stringify(reply) + "\n");
}
// The readline interface keeps stdin open after "quit": leave explicitly.
process.exit(0);
// The readline interface keeps stdin open after "quit": leave explicitly.
process.exit(0);
