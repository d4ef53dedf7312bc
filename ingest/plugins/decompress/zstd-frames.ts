/** What a walk over the frames of a zstd body found, before a byte of it is decoded. */
export interface ZstdFrameSummary {
  /** Largest window any frame declares (bytes). */
  maxWindow: number;
  /** Upper bound of the decoded size: raw and RLE blocks exactly, compressed blocks at their maximum. */
  outputBound: number;
  /**
   * Bytes the decoder moves for its window: fzstd copies its whole window once per block of a frame that
   * does not declare its content size, so that work is blocks × window for such frames.
   */
  windowWork: number;
  /** Sum of the content sizes frames declare (the decoder allocates that much for them). */
  declaredSize: number;
}

/** Why a zstd body is refused before decoding. */
export class ZstdFrameError extends Error {
  constructor(
    /** "malformed" for bytes that are not zstd frames, "window" for a window above the limit. */
    readonly reason: "malformed" | "window",
    message: string,
  ) {
    super(message);
  }
}

const ZSTD_MAGIC = 0xfd2fb528;
const BLOCK_MAX = 128 * 1024;

function u32(b: Uint8Array, at: number): number {
  if (at + 4 > b.length) throw new ZstdFrameError("malformed", "zstd: truncated frame");
  return (
    ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16)) +
    (b[at + 3] as number) * 2 ** 24
  );
}

function uint(b: Uint8Array, at: number, size: number): number {
  if (at + size > b.length) throw new ZstdFrameError("malformed", "zstd: truncated frame header");
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + (b[at + i] as number);
  return v;
}

/**
 * Walks the frame and block headers of a zstd body (RFC 8878) without decoding it: refuses a window
 * above maxWindow, dictionaries and structural damage, and returns the bounds the caller checks before
 * decoding. Linear in the number of blocks, a few operations each.
 */
export function inspectZstdFrames(b: Uint8Array, maxWindow: number): ZstdFrameSummary {
  const summary: ZstdFrameSummary = { maxWindow: 0, outputBound: 0, windowWork: 0, declaredSize: 0 };
  let at = 0;
  if (b.length === 0) throw new ZstdFrameError("malformed", "zstd: empty body");
  while (at < b.length) {
    const magic = u32(b, at);
    if (magic >>> 4 === 0x184d2a5) {
      // A skippable frame: its length, then that many bytes nobody decodes.
      at += 8 + u32(b, at + 4);
      if (at > b.length) throw new ZstdFrameError("malformed", "zstd: truncated skippable frame");
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw new ZstdFrameError("malformed", "zstd: bad frame magic");
    at = inspectFrame(b, at + 4, maxWindow, summary);
  }
  return summary;
}

function inspectFrame(b: Uint8Array, start: number, maxWindow: number, summary: ZstdFrameSummary): number {
  let at = start;
  if (at >= b.length) throw new ZstdFrameError("malformed", "zstd: truncated frame header");
  const fhd = b[at++] as number;
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd >> 5) & 1;
  if (fhd & 8) throw new ZstdFrameError("malformed", "zstd: reserved frame header bit set");
  const checksum = (fhd >> 2) & 1;
  const dictFlag = fhd & 3;
  let window = 0;
  if (!singleSegment) {
    if (at >= b.length) throw new ZstdFrameError("malformed", "zstd: truncated frame header");
    const wd = b[at++] as number;
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  const dictBytes = [0, 1, 2, 4][dictFlag] as number;
  if (dictBytes && uint(b, at, dictBytes) !== 0) {
    throw new ZstdFrameError("malformed", "zstd: frames that need a dictionary are not accepted");
  }
  at += dictBytes;
  const fcsBytes = fcsFlag === 0 ? singleSegment : [0, 2, 4, 8][fcsFlag];
  let contentSize = fcsBytes ? uint(b, at, fcsBytes as number) : 0;
  if (fcsFlag === 1) contentSize += 256;
  at += fcsBytes as number;
  if (singleSegment) window = contentSize;
  if (window > maxWindow) {
    throw new ZstdFrameError("window", `zstd: a frame declares a ${window}-byte window (limit ${maxWindow})`);
  }
  summary.maxWindow = Math.max(summary.maxWindow, window);
  const blockMax = Math.min(window, BLOCK_MAX);
  let frameBound = 0;
  let blocks = 0;
  for (let last = 0; !last; ) {
    if (at + 3 > b.length) throw new ZstdFrameError("malformed", "zstd: truncated block header");
    const h = (b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16);
    at += 3;
    last = h & 1;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
    blocks++;
    if (type === 3) throw new ZstdFrameError("malformed", "zstd: reserved block type");
    if (size > blockMax) throw new ZstdFrameError("malformed", "zstd: a block exceeds the block maximum");
    if (type === 1) {
      frameBound += size;
      at += 1;
    } else {
      frameBound += type === 0 ? size : blockMax;
      at += size;
    }
    if (at > b.length) throw new ZstdFrameError("malformed", "zstd: truncated block");
  }
  at += checksum * 4;
  if (at > b.length) throw new ZstdFrameError("malformed", "zstd: truncated checksum");
  // A frame that declares its size is decoded into a buffer of that size: the bound is the smaller.
  summary.declaredSize += contentSize;
  summary.outputBound += contentSize > 0 ? Math.min(contentSize, frameBound) : frameBound;
  if (contentSize === 0) summary.windowWork += blocks * window;
  return at;
}
