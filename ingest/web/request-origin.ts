import type { FastifyRequest } from "fastify";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Whether a method changes nothing (no CSRF check needed). */
export const isSafeMethod = (method: string): boolean => SAFE_METHODS.has(method);

/**
 * Whether a cookie-authenticated request comes from this site: its Origin (or, without one, its Referer)
 * names this host. Browsers send Origin on every cross-site POST, so a forged form fails here even before
 * the CSRF token is compared.
 */
export function sameOrigin(request: FastifyRequest): boolean {
  const from = request.headers.origin ?? request.headers.referer;
  if (!from) return true;
  try {
    return new URL(from).origin === new URL(`${request.protocol}://${request.host}`).origin;
  } catch {
    return false;
  }
}

/** Cookie attributes of a session cookie: httpOnly, SameSite=Strict, Secure when served over TLS. */
export function sessionCookieOptions(request: FastifyRequest, maxAgeSeconds: number) {
  return {
    httpOnly: true,
    sameSite: "strict" as const,
    secure: request.protocol === "https",
    path: "/",
    maxAge: maxAgeSeconds,
  };
}
