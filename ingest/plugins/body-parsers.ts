import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { Decompress } from "fzstd";
import sjson from "secure-json-parse";
import { duplicateKey, HttpErrors, unstorableJson } from "../../lib/http/index.ts";

/** Content type of client-encoded Avro batches; the writer schema's fingerprint comes in a header. */
export const AVRO_CONTENT_TYPE = "application/vnd.songmartyn.telemetry+avro";

declare module "fastify" {
  interface FastifyRequest {
    /** sha256 (hex) of the body exactly as received, compressed or not: what request signatures cover. */
    bodySha256?: string;
  }
}

/** Options of the body parsers. */
export interface BodyParserOptions {
  /** Largest body after decompression. */
  maxDecompressed: number;
}

function decompress(request: FastifyRequest, raw: Buffer, max: number): Buffer {
  const encoding = String(request.headers["content-encoding"] ?? "identity").toLowerCase();
  switch (encoding) {
    case "identity":
      return raw;
    case "gzip":
      try {
        return gunzipSync(raw, { maxOutputLength: max });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
          throw new HttpErrors.BODY_TOO_LARGE(`${max} (decompressed)`);
        }
        throw new HttpErrors.MALFORMED_BODY(`gzip: ${(err as Error).message}`);
      }
    case "zstd": {
      // Streaming so an oversized (or hostile) frame is refused as soon as it passes the limit.
      const chunks: Uint8Array[] = [];
      let size = 0;
      const stream = new Decompress((chunk) => {
        size += chunk.length;
        if (size > max) throw new HttpErrors.BODY_TOO_LARGE(`${max} (decompressed)`);
        chunks.push(chunk);
      });
      try {
        stream.push(raw, true);
      } catch (err) {
        if ((err as { code?: string }).code === "BODY_TOO_LARGE") throw err;
        throw new HttpErrors.MALFORMED_BODY(`zstd: ${(err as Error).message}`);
      }
      return Buffer.concat(chunks, size);
    }
    default:
      throw new HttpErrors.UNSUPPORTED_MEDIA_TYPE(`content-encoding ${encoding} (use gzip, zstd or none)`);
  }
}

/** Strict JSON: a key repeated in one object, or text no store can keep, refuses the body (400). */
function refuseAmbiguousJson(text: string, body: unknown): void {
  const repeated = duplicateKey(text);
  if (repeated !== undefined) throw new HttpErrors.DUPLICATE_KEY(JSON.stringify(repeated.slice(0, 64)));
  const bad = unstorableJson(text, body);
  if (bad) throw new HttpErrors.INVALID_CHARACTER(bad);
}

/**
 * JSON and Avro body parsers that accept gzip and zstd bodies, keep the digest of the body as sent
 * (for request signatures) and bound the decompressed size. Text bodies are refused (415).
 */
async function bodyParsers(app: FastifyInstance, opts: BodyParserOptions) {
  app.removeContentTypeParser(["application/json", "text/plain"]);
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, raw: Buffer, done) => {
    try {
      request.bodySha256 = createHash("sha256").update(raw).digest("hex");
      const text = decompress(request, raw, opts.maxDecompressed).toString("utf8");
      if (text.trim() === "") throw new HttpErrors.MALFORMED_BODY("the body is empty");
      const body = sjson.parse(text, undefined, { protoAction: "remove", constructorAction: "remove" });
      refuseAmbiguousJson(text, body);
      done(null, body);
    } catch (err) {
      done(
        err instanceof SyntaxError ? new HttpErrors.MALFORMED_BODY(err.message) : (err as Error),
        undefined,
      );
    }
  });
  app.addContentTypeParser(AVRO_CONTENT_TYPE, { parseAs: "buffer" }, (request, raw: Buffer, done) => {
    try {
      request.bodySha256 = createHash("sha256").update(raw).digest("hex");
      done(null, decompress(request, raw, opts.maxDecompressed));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}

/** The parsers as a plugin. */
export default fp(bodyParsers, { name: "smstats-body-parsers" });
