import { headers } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { readAck } from "../../ingest/publish/stream-acks.ts";

const msg = (body: string, code?: number) => {
  const h = code ? headers(code, "No Responders") : undefined;
  const data = new TextEncoder().encode(body);
  return { data, headers: h, json: <T>() => JSON.parse(body) as T };
};

describe("reading JetStream publish acknowledgements", () => {
  it("reads a stored message and a duplicate", () => {
    expect(readAck(msg('{"stream":"S","seq":42}'))).toEqual({ ok: true, seq: 42, duplicate: false });
    expect(readAck(msg('{"stream":"S","seq":42,"duplicate":true}'))).toEqual({
      ok: true,
      seq: 42,
      duplicate: true,
    });
  });

  it("keeps the stream's error code and description", () => {
    expect(
      readAck(msg('{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}')),
    ).toEqual({ ok: false, errCode: 10077, description: "maximum messages exceeded" });
  });

  it("tells no responders and an unreadable answer apart from an ack", () => {
    expect(readAck(msg("", 503))).toMatchObject({ ok: false, description: "no responders" });
    expect(readAck(msg("not json"))).toMatchObject({ ok: false, description: "bad ack" });
    expect(readAck(msg('{"seq":1}'))).toMatchObject({ ok: false, description: "bad ack" });
  });
});
