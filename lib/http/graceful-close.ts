import type { FastifyInstance } from "fastify";

/**
 * Closes a Fastify server gracefully: stops accepting, lets requests in flight finish, and closes
 * keep-alive connections as each goes idle. Fastify closes idle connections only once, when close()
 * starts; a connection busy at that moment would otherwise linger for the whole keep-alive timeout.
 */
export async function gracefulClose(app: FastifyInstance): Promise<void> {
  const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
  try {
    await app.close();
  } finally {
    clearInterval(sweep);
  }
}
