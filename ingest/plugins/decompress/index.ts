export { type DecodeLimits, decodeBody } from "./decode-body.ts";
export { inspectZstdFrames, ZstdFrameError, type ZstdFrameSummary } from "./zstd-frames.ts";
