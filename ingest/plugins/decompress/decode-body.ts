import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { decompress as zstdDecompress } from "fzstd";
import { HttpErrors } from "../../../lib/http/index.ts";
import { inspectZstdFrames, ZstdFrameError } from "./zstd-frames.ts";

const gunzipAsync = promisify(gunzip);
const GUNZIP_CHUNK = 1024 * 1024;

/** The limits every compressed body is held to. */
export interface DecodeLimits {
  /** Largest body after decompression (bytes). */
  maxOutput: number;
  /** Largest zstd window a frame may declare (bytes). */
  maxWindow: number;
  /** Largest window work (bytes the zstd decoder moves for its window) a body may cost. */
  maxWork: number;
}

/**
 * Decodes a body by its Content-Encoding within the limits. gzip runs on zlib's thread pool and stops
 * at maxOutput; zstd is refused from its frame headers (window, declared size, output bound, work)
 * before the decoder allocates or walks anything, so no body can hold the event loop for long.
 */
export async function decodeBody(encoding: string, raw: Buffer, limits: DecodeLimits): Promise<Buffer> {
  switch (encoding) {
    case "identity":
      return raw;
    case "gzip":
    case "x-gzip":
      return gunzipBounded(raw, limits.maxOutput);
    case "zstd":
      return zstdBounded(raw, limits);
    default:
      throw new HttpErrors.UNSUPPORTED_MEDIA_TYPE(`content-encoding ${encoding} (use gzip, zstd or none)`);
  }
}

async function gunzipBounded(raw: Buffer, max: number): Promise<Buffer> {
  // The trailer's ISIZE is the last member's size mod 2^32: a body that says it is too large is refused
  // without inflating it. One that lies is still held to max by zlib.
  if (raw.length >= 18 && raw[0] === 0x1f && raw[1] === 0x8b && raw.readUInt32LE(raw.length - 4) > max) {
    throw new HttpErrors.BODY_TOO_LARGE(`${max} (decompressed)`);
  }
  try {
    // Large chunks: zlib works on its thread pool, and each chunk is one round trip to the event loop.
    return await gunzipAsync(raw, { maxOutputLength: max, chunkSize: GUNZIP_CHUNK });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ERR_BUFFER_TOO_LARGE" || err instanceof RangeError) {
      throw new HttpErrors.BODY_TOO_LARGE(`${max} (decompressed)`);
    }
    throw new HttpErrors.MALFORMED_BODY(`gzip: ${(err as Error).message}`);
  }
}

function zstdBounded(raw: Buffer, limits: DecodeLimits): Buffer {
  try {
    inspectZstdFrames(raw, {
      maxWindow: limits.maxWindow,
      maxOutput: limits.maxOutput,
      maxWork: limits.maxWork,
    });
  } catch (err) {
    if (!(err instanceof ZstdFrameError)) throw err;
    if (err.reason === "output") throw new HttpErrors.BODY_TOO_LARGE(`${limits.maxOutput} (decompressed)`);
    if (err.reason === "malformed") throw new HttpErrors.MALFORMED_BODY(err.message);
    throw new HttpErrors.DECOMPRESSION_LIMIT(err.message);
  }
  try {
    const out = zstdDecompress(raw);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    throw new HttpErrors.MALFORMED_BODY(`zstd: ${(err as Error).message}`);
  }
}
