import type { FastifyInstance } from "fastify";
import { ANSWER_SIGNATURE_HEADER, type AnswerSigner } from "../../licensing/index.ts";

/**
 * Signs every answer of the routes registered in the same scope (after this hook): an Ed25519 signature
 * over method, path, Date and the body digest, with the key id, so an instance can tell our answers from a
 * forged or altered one (licensing/client verifies them). Error answers are signed too.
 */
export function signAnswers(app: FastifyInstance, signer: AnswerSigner) {
  app.addHook("onSend", async (request, reply, payload) => {
    if (typeof payload !== "string" && !Buffer.isBuffer(payload)) return payload;
    const date = new Date().toUTCString();
    reply.header("date", date);
    reply.header(
      ANSWER_SIGNATURE_HEADER,
      signer.answer({ method: request.method, path: request.url, date, body: payload }),
    );
    return payload;
  });
}
