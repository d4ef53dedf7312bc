import { Socket } from "node:net";
import { jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createStreamAcks } from "../../ingest/publish/stream-acks.ts";
import { connectNats, type NatsHandle } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { nsName } from "../support/env.ts";

// ingest's publish-and-wait path on the local stack's NATS: the acknowledgements, and how many socket
// writes the publishes of one event-loop turn cost.
const config = loadConfig(process.env);
const log = createLogger("stream-acks-test", "silent");
const stream = nsName("ACKS_TEST");
const subject = nsName("ackstest.batch");
let nats: NatsHandle;

beforeAll(async () => {
  nats = await connectNats(config.nats.servers, "stream-acks-test", log);
  const jsm = await jetstreamManager(nats.nc);
  await jsm.streams.delete(stream).catch(() => undefined);
  await jsm.streams.add({ name: stream, subjects: [subject] });
});
afterAll(async () => {
  const jsm = await jetstreamManager(nats.nc);
  await jsm.streams.delete(stream).catch(() => undefined);
  await nats?.nc.close();
});

describe("publishing to JetStream with shared acknowledgements", () => {
  it("acknowledges every message, a duplicate as a duplicate", async () => {
    const acks = createStreamAcks(nats.nc);
    try {
      const h = () => {
        const x = headers();
        x.set("Nats-Msg-Id", "acks-dup-1");
        return x;
      };
      const first = await acks.publish(subject, new Uint8Array([1]), h(), 5_000);
      const again = await acks.publish(subject, new Uint8Array([1]), h(), 5_000);
      expect(first).toMatchObject({ ok: true, duplicate: false });
      expect(again).toMatchObject({ ok: true, duplicate: true });
      const none = await acks.publish(nsName("ackstest-nobody.x"), new Uint8Array([1]), headers(), 5_000);
      expect(none).toMatchObject({ ok: false, description: "no responders" });
    } finally {
      acks.close();
    }
  });

  it("sends the publishes of one event-loop turn in one socket write, however each request reached it", async () => {
    const acks = createStreamAcks(nats.nc);
    const writes: string[] = [];
    const write = Socket.prototype.write;
    const spy = vi.spyOn(Socket.prototype, "write").mockImplementation(function (
      this: Socket,
      ...args: Parameters<Socket["write"]>
    ) {
      const chunk = args[0];
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("latin1");
      if (text.includes(subject)) writes.push(text);
      return write.apply(this, args);
    });
    try {
      // 40 requests finishing in one turn, each after its own number of awaits (as requests whose
      // checks took different paths), as ingest's handlers reach their publish.
      const answers = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          for (let k = 0; k < i % 7; k++) await Promise.resolve();
          const h = headers();
          h.set("Nats-Msg-Id", `acks-turn-${i}`);
          return acks.publish(subject, new Uint8Array([i]), h, 5_000);
        }),
      );
      expect(answers.every((a) => a.ok)).toBe(true);
      const published = writes.reduce((n, w) => n + (w.match(/HPUB /g)?.length ?? 0), 0);
      expect(published).toBe(40);
      expect(writes.length).toBe(1);
    } finally {
      spy.mockRestore();
      acks.close();
    }
  });

  it("answers what close() never sent as not stored, and stores none of it", async () => {
    const jsm = await jetstreamManager(nats.nc);
    await jsm.streams.purge(stream);
    const acks = createStreamAcks(nats.nc);
    const answer = acks.publish(subject, new Uint8Array([9]), headers(), 5_000);
    acks.close();
    expect(await answer).toMatchObject({ ok: false, description: "timeout" });
    await nats.nc.flush();
    expect((await jsm.streams.info(stream)).state.messages).toBe(0);
  });
});
