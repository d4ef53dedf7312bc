import type { MsgHdrs } from "@nats-io/transport-node";
import { PIPELINE_HEADERS } from "../../lib/jetstream/index.ts";
import type { SecretBox } from "../../licensing/keys/index.ts";
import { SCHEMA_FINGERPRINT_HEADER } from "../../schemas/index.ts";

/**
 * The dead-letter stream never holds a clear client address, title, user id or path: a dead letter's
 * body is an envelope sealed with the secret box (AES-256-GCM, key id inside, so rotated keys still open
 * it) holding the original body, every original header but the harmless ones below, and the step's
 * detail (which may quote the payload). Replay opens it and publishes the original message again.
 *
 * Envelope (before sealing): u32 length of the JSON part ‖ JSON {headers: [[name, value], …], detail} ‖
 * the original body.
 */
export interface OpenedLetter {
  headers: [string, string][];
  detail: string;
  data: Uint8Array;
}

/** Associated data of a dead letter's envelope: it opens nowhere else. */
export const DEAD_LETTER_CONTEXT = "dlq:envelope:v1";

/** Header marking a sealed dead letter (its value is the envelope version). */
export const SEALED_HEADER = "Sm-Dlq-Sealed";

/** Header naming the batch's instance (from the message id), so erasure finds its dead letters unopened. */
export const INSTANCE_HEADER = "Sm-Dlq-Instance-Id";

// Original headers that carry nothing personal and stay readable (inspection, erasure); all others are sealed.
const CLEAR_HEADERS = new Set(
  [
    SCHEMA_FINGERPRINT_HEADER,
    PIPELINE_HEADERS.receivedAt,
    PIPELINE_HEADERS.clockSkewMs,
    PIPELINE_HEADERS.clamped,
  ].map((h) => h.toLowerCase()),
);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether an original header stays clear on the dead letter. */
export function isClearHeader(name: string): boolean {
  return CLEAR_HEADERS.has(name.toLowerCase());
}

/** The instance id of a telemetry message id `<instance>:<batch>`, when it is one. */
export function instanceOfMsgId(msgId: string | undefined): string | undefined {
  const id = msgId?.split(":")[0];
  return id && UUID.test(id) ? id.toLowerCase() : undefined;
}

/** Seals a poison message's body, its non-clear headers and the detail into one envelope. */
export function sealLetter(
  box: SecretBox,
  data: Uint8Array,
  headers: MsgHdrs | undefined,
  detail: string,
): Buffer {
  const sealed: [string, string][] = [];
  for (const [key, values] of headers ?? []) {
    if (key.toLowerCase() === "nats-msg-id" || isClearHeader(key)) continue;
    for (const v of values) sealed.push([key, v]);
  }
  const json = Buffer.from(JSON.stringify({ headers: sealed, detail }), "utf8");
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  return box.seal(Buffer.concat([len, json, data]), DEAD_LETTER_CONTEXT);
}

/** Opens an envelope made by sealLetter; SECRET_BOX_INVALID when it was altered or its key is gone. */
export function openLetter(box: SecretBox, sealed: Uint8Array): OpenedLetter {
  const plain = box.open(sealed, DEAD_LETTER_CONTEXT);
  const len = plain.readUInt32BE(0);
  const meta = JSON.parse(plain.subarray(4, 4 + len).toString("utf8")) as {
    headers: [string, string][];
    detail: string;
  };
  return { headers: meta.headers, detail: meta.detail, data: plain.subarray(4 + len) };
}
