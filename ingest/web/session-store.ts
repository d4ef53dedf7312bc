import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Redis } from "ioredis";

/** A browser session's server side: what it stands for, and the CSRF token its actions must carry. */
export interface Session<T> {
  data: T;
  csrf: string;
}

/** Browser sessions in Redis, one kind (admin console or license portal) per store. */
export interface SessionStore<T> {
  /** Cookie name of this kind of session. */
  readonly cookie: string;
  /** Lifetime, seconds. */
  readonly ttlSeconds: number;
  /** Starts a session; the id goes into the cookie, the CSRF token to the page. */
  create(data: T): Promise<{ id: string; csrf: string }>;
  /** The session of a cookie value, or null when unknown or expired. */
  get(id: string | undefined): Promise<Session<T> | null>;
  /** Ends a session. */
  destroy(id: string | undefined): Promise<void>;
}

const ID_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Sessions keyed by the sha256 of their id (a Redis dump does not hand out live cookies), expiring on
 * their own; the data is JSON.
 */
export function createSessionStore<T>(opts: {
  redis: Redis;
  prefix: string;
  kind: "admin" | "portal";
  cookie: string;
  ttlSeconds: number;
}): SessionStore<T> {
  const key = (id: string) =>
    `${opts.prefix}web-session:${opts.kind}:${createHash("sha256").update(id).digest("hex")}`;
  return {
    cookie: opts.cookie,
    ttlSeconds: opts.ttlSeconds,
    async create(data) {
      const id = randomBytes(32).toString("base64url");
      const csrf = randomBytes(32).toString("base64url");
      await opts.redis.set(key(id), JSON.stringify({ data, csrf }), "EX", opts.ttlSeconds);
      return { id, csrf };
    },
    async get(id) {
      if (!id || !ID_SHAPE.test(id)) return null;
      const raw = await opts.redis.get(key(id));
      return raw ? (JSON.parse(raw) as Session<T>) : null;
    },
    async destroy(id) {
      if (id && ID_SHAPE.test(id)) await opts.redis.del(key(id));
    },
  };
}

/** Whether a presented CSRF token equals the session's (constant time). */
export function csrfMatches(session: { csrf: string }, presented: unknown): boolean {
  if (typeof presented !== "string") return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}
