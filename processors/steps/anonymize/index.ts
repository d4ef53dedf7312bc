export {
  type AnonymizedBatch,
  type AnonymizedPlaybackEvent,
  type AnonymizedSessionEvent,
  type AnonymizeOptions,
  anonymize,
  storedBatchId,
} from "./anonymize.ts";
export { extensionToken, fileTypeCounts, songFileType } from "./file-type.ts";
export { songHash, songKeyPart, userHash } from "./keyed-hashes.ts";
export { ANONYMIZE_KEY_FILE, AnonymizeSecretError, loadAnonymizeSecret } from "./secret.ts";
export * from "./shape-rules.ts";
