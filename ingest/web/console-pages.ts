import { existsSync } from "node:fs";
import { join } from "node:path";
import helmet from "@fastify/helmet";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";
import { HttpErrors } from "../../lib/http/index.ts";

/** The content security policy of the pages: only this origin's scripts, styles and calls; nothing inline. */
export const CONSOLE_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", "data:"],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  // Served over plain HTTP on loopback in development; TLS is the proxy's.
  upgradeInsecureRequests: null,
} as const;

/**
 * The built console (/admin/) and portal (/portal/) with their assets (/assets/), under security headers
 * (helmet: CSP without inline script, no framing, no sniffing, no referrer). Client-side routes use the
 * URL's hash, so every page is its folder's index.html. Without a build the pages answer
 * CONSOLE_NOT_BUILT.
 */
export async function consolePages(app: FastifyInstance, opts: { distDir: string }) {
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: { ...CONSOLE_CSP } },
    crossOriginEmbedderPolicy: false,
  });
  const built = existsSync(join(opts.distDir, "admin", "index.html"));
  for (const page of ["admin", "portal"] as const) {
    app.get(`/${page}`, { schema: { hide: true } }, (_request, reply) => reply.redirect(`/${page}/`, 301));
  }
  if (!built) {
    for (const page of ["admin", "portal"]) {
      app.get(`/${page}/`, { schema: { hide: true } }, async () => {
        throw new HttpErrors.CONSOLE_NOT_BUILT();
      });
    }
    return;
  }
  let decorateReply = true;
  for (const folder of ["admin", "portal", "assets"]) {
    await app.register(fastifyStatic, {
      root: join(opts.distDir, folder),
      prefix: `/${folder}/`,
      decorateReply,
      index: ["index.html"],
      // Hashed asset names never change; the pages themselves are checked each time.
      setHeaders: (reply) => {
        reply.header(
          "cache-control",
          folder === "assets" ? "public, max-age=31536000, immutable" : "no-cache",
        );
      },
    });
    decorateReply = false;
  }
}
