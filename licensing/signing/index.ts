export {
  type AnswerSigner,
  createAnswerSigner,
  type LeaseContent,
  type SignedLease,
} from "./answer-signer.ts";
