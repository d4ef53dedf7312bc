import { type LeaseClaims, verifyLease } from "./lease.ts";
import { type KeyStore, type ReceivedAnswer, VerifyError, verifyAnswerSignature } from "./signed-answer.ts";

/** The licensing answer body (validate, activate, heartbeat). */
export interface LicenseAnswer {
  valid: boolean;
  reason: string;
  message: string;
  tier: string;
  nonce: string;
  instance_id: string;
  lease: string | null;
  [field: string]: unknown;
}

/**
 * Everything an instance checks on a licensing answer before trusting it: the server's signature over the
 * answer, that it answers this request (the nonce it sent, in the body and in the lease) and the lease
 * itself. A recorded answer replayed for another request fails with NONCE_MISMATCH.
 */
export function verifyLicenseAnswer(
  keys: KeyStore,
  answer: ReceivedAnswer,
  expect: { instanceId: string; nonce: string; now?: Date; maxAgeSeconds?: number },
): { body: LicenseAnswer; lease: LeaseClaims | null } {
  verifyAnswerSignature(keys, answer, { now: expect.now, maxAgeSeconds: expect.maxAgeSeconds ?? 300 });
  const body = JSON.parse(Buffer.from(answer.body).toString("utf8")) as LicenseAnswer;
  if (body.nonce !== expect.nonce)
    throw new VerifyError("NONCE_MISMATCH", "the answer is for another request");
  if (body.instance_id !== expect.instanceId) {
    throw new VerifyError("INSTANCE_MISMATCH", "the answer is for another instance");
  }
  const lease = body.lease
    ? verifyLease(keys, body.lease, { instanceId: expect.instanceId, nonce: expect.nonce, now: expect.now })
    : null;
  return { body, lease };
}
