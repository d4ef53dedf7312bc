import type { FastifyInstance } from "fastify";
import type { KeyRing } from "../../../../licensing/index.ts";

/** GET /v1/keys: the public keys (JWKS) that verify leases, tokens and signed answers, current first. */
export async function keysRoute(app: FastifyInstance, opts: { ring: KeyRing }) {
  app.get(
    "/v1/keys",
    {
      schema: {
        summary: "Public signing keys",
        description:
          "Ed25519 public keys as a JWKS, the current one first. Keys retired by a rotation stay listed, so " +
          "leases signed before it still verify. Instances cache this and verify leases offline.",
        tags: ["licensing"],
        response: {
          200: {
            type: "object",
            required: ["keys"],
            properties: {
              keys: {
                type: "array",
                items: {
                  type: "object",
                  properties: {
                    kty: { type: "string" },
                    crv: { type: "string" },
                    x: { type: "string" },
                    kid: { type: "string" },
                    alg: { type: "string" },
                    use: { type: "string" },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (_request, reply) => reply.header("cache-control", "public, max-age=300").send(opts.ring.jwks()),
  );
}
