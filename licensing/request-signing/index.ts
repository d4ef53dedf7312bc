export {
  bodySha256Hex,
  isFreshTimestamp,
  newSigningSecret,
  requestSignature,
  SIGNATURE_HEADER,
  type SignedRequest,
  TIMESTAMP_HEADER,
  verifyRequestSignature,
} from "./request-signature.ts";
