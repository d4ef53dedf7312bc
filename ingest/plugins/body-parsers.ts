import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import sjson from "secure-json-parse";
import { duplicateKeyIn, HttpErrors, unstorableJson } from "../../lib/http/index.ts";
import { type DecodeLimits, decodeBody } from "./decompress/index.ts";

/** Content type of client-encoded Avro batches; the writer schema's fingerprint comes in a header. */
export const AVRO_CONTENT_TYPE = "application/vnd.songmartyn.telemetry+avro";

declare module "fastify" {
  interface FastifyRequest {
    /** sha256 (hex) of the body exactly as received, compressed or not: what request signatures cover. */
    bodySha256?: string;
  }
}

/** Strict JSON: a key repeated in one object, or text no store can keep, refuses the body (400). */
function refuseAmbiguousJson(text: string, body: unknown): void {
  const repeated = duplicateKeyIn(text, body);
  if (repeated !== undefined) throw new HttpErrors.DUPLICATE_KEY(JSON.stringify(repeated.slice(0, 64)));
  const bad = unstorableJson(text, body);
  if (bad) throw new HttpErrors.INVALID_CHARACTER(bad);
}

/** Options of the body parsers: the decompression limits. */
export type BodyParserOptions = DecodeLimits;

// The body as sent, kept by the content-type parser until the preValidation hook decodes it.
const encoded = new WeakMap<FastifyRequest, { raw: Buffer; json: boolean }>();

/**
 * JSON and Avro bodies, gzip or zstd encoded or not, in two steps. The content-type parser only reads
 * the bytes (within bodyLimit) and keeps their digest; a preValidation hook decodes them. Registered
 * after authentication, whose signature check is a preValidation hook too, so a body is decompressed
 * only once its signature (over the bytes as sent) has been verified. Text bodies are refused (415).
 */
async function bodyParsers(app: FastifyInstance, opts: BodyParserOptions) {
  app.removeContentTypeParser(["application/json", "text/plain"]);
  const keep =
    (json: boolean) => (request: FastifyRequest, raw: Buffer, done: (e: null, b: Buffer) => void) => {
      request.bodySha256 = createHash("sha256").update(raw).digest("hex");
      encoded.set(request, { raw, json });
      done(null, raw);
    };
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, keep(true));
  app.addContentTypeParser(AVRO_CONTENT_TYPE, { parseAs: "buffer" }, keep(false));
  app.addHook("preValidation", async (request) => {
    const body = encoded.get(request);
    if (!body) return;
    encoded.delete(request);
    const encoding = String(request.headers["content-encoding"] ?? "identity")
      .toLowerCase()
      .trim();
    const bytes = await decodeBody(encoding, body.raw, opts);
    if (!body.json) {
      request.body = bytes;
      return;
    }
    const text = bytes.toString("utf8");
    if (text.trim() === "") throw new HttpErrors.MALFORMED_BODY("the body is empty");
    let parsed: unknown;
    try {
      parsed = sjson.parse(text, undefined, { protoAction: "remove", constructorAction: "remove" });
    } catch (err) {
      throw new HttpErrors.MALFORMED_BODY((err as Error).message);
    }
    refuseAmbiguousJson(text, parsed);
    request.body = parsed;
  });
}

/** The parsers as a plugin; register it after the authentication plugin. */
export default fp(bodyParsers, { name: "smstats-body-parsers" });
