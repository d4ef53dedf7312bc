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
    /** "malformed": not zstd frames; otherwise the limit the body is past. */
    readonly reason: "malformed" | "window" | "output" | "work",
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

/** The limits the walk refuses a body at, as soon as it is past one. */
export interface ZstdLimits {
  maxWindow: number;
  /** Largest output bound (and declared size). */
  maxOutput: number;
  /** Largest window work. */
  maxWork: number;
}

/**
 * Walks the frame and block headers of a zstd body (RFC 8878) without decoding it, and refuses it as
 * soon as it is past a limit (a window, declared size, output bound or window work) or damaged, or needs
 * a dictionary. A few operations per block, and it stops at the first block past a limit.
 */
export function inspectZstdFrames(b: Uint8Array, limits: ZstdLimits): ZstdFrameSummary {
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
    at = inspectFrame(b, at + 4, limits, summary);
  }
  return summary;
}

function inspectFrame(b: Uint8Array, start: number, limits: ZstdLimits, summary: ZstdFrameSummary): number {
  const { maxWindow } = limits;
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
  summary.declaredSize += contentSize;
  if (summary.declaredSize > limits.maxOutput) {
    throw new ZstdFrameError("output", `zstd: frames declare ${summary.declaredSize} bytes of content`);
  }
  const bytesBefore = summary.outputBound;
  const blockMax = Math.min(window, BLOCK_MAX);
  let frameBound = 0;
  for (let last = 0; !last; ) {
    if (at + 3 > b.length) throw new ZstdFrameError("malformed", "zstd: truncated block header");
    const h = (b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16);
    at += 3;
    last = h & 1;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
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
    if (contentSize === 0) summary.windowWork += window;
    if (
      bytesBefore + frameBound > limits.maxOutput &&
      (contentSize === 0 || contentSize > limits.maxOutput)
    ) {
      throw new ZstdFrameError("output", "zstd: the blocks expand past the output limit");
    }
    if (summary.windowWork > limits.maxWork) {
      throw new ZstdFrameError("work", `zstd: more than ${limits.maxWork} bytes of window work`);
    }
  }
  at += checksum * 4;
  if (at > b.length) throw new ZstdFrameError("malformed", "zstd: truncated checksum");
  // A frame that declares its size is decoded into a buffer of that size: the bound is the smaller.
  summary.outputBound += contentSize > 0 ? Math.min(contentSize, frameBound) : frameBound;
  return at;
}
