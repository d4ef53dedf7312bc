import { METHODS } from "node:http";
import type { FastifyError, FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { type ErrorBody, HttpErrors } from "./errors.ts";

/** Options of the error handler plugin. */
export interface ErrorHandlerOptions {
  /** Retry-After seconds sent with every 503. */
  retryAfterSeconds: number;
  /** Called for every error response, by code (counted in /metrics). */
  onError?: (code: string, status: number) => void;
  /**
   * Names the dependency (e.g. "redis", "postgres") whose outage caused an error, or undefined. Such
   * errors are answered 503 DEPENDENCY_UNAVAILABLE with Retry-After and reported to onDependencyDown,
   * which logs the outage once; they are not logged per request.
   */
  dependencyOf?: (err: Error) => string | undefined;
  onDependencyDown?: (dependency: string, err: Error) => void;
  /** API codes that themselves mean a dependency's outage (e.g. PIPELINE_UNAVAILABLE → "nats"). */
  outageCodes?: Readonly<Record<string, string>>;
  /**
   * Maps a domain error (e.g. a licensing error) onto an error of the HTTP registry, or returns undefined
   * for errors it does not know. The only place domain errors become HTTP answers: routes throw them as
   * they are.
   */
  mapError?: (err: Error) => FastifyError | undefined;
}

// Errors of a request whose client went away mid-body: Node's "aborted" reset or a premature close.
const CLIENT_GONE = new Set(["ECONNRESET", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE", "EPIPE"]);

// Fastify's own error codes, mapped onto the API's stable ones.
const FASTIFY_CODES: Record<string, (e: FastifyError) => FastifyError> = {
  FST_ERR_CTP_INVALID_JSON_BODY: (e) => new HttpErrors.MALFORMED_BODY(e.message),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new HttpErrors.MALFORMED_BODY("the body is empty"),
  FST_ERR_CTP_BODY_TOO_LARGE: (e) => new HttpErrors.BODY_TOO_LARGE(String(e.message.match(/\d+/)?.[0] ?? "")),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: (e) => new HttpErrors.UNSUPPORTED_MEDIA_TYPE(e.message),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: (e) => new HttpErrors.MALFORMED_BODY(e.message),
};

// PostgreSQL's "character not in repertoire" and "untranslatable character": text a client sent.
const POSTGRES_TEXT_CODES = new Set(["22021", "22P05"]);

/** The API error for a failed schema validation: unknown fields get their own code. */
export function validationError(
  errors: readonly {
    keyword?: string;
    instancePath?: string;
    message?: string;
    params?: Record<string, unknown>;
  }[],
  context: string,
): FastifyError {
  const e = errors[0];
  const where = `${context}${e?.instancePath ?? ""}`;
  if (e?.keyword === "additionalProperties")
    return new HttpErrors.UNKNOWN_FIELD(`${where}/${String(e.params?.additionalProperty ?? "")}`);
  return new HttpErrors.INVALID_BODY(`${where} ${e?.message ?? "is invalid"}`);
}

/** One place that turns any thrown error into {error: {code, message}} with the right status. */
async function errorHandler(app: FastifyInstance, opts: ErrorHandlerOptions) {
  app.setErrorHandler((raw: FastifyError, request, reply) => {
    const mapped = opts.mapError?.(raw);
    let err = raw;
    const dependency = mapped || (raw.code && raw.code in HttpErrors) ? undefined : opts.dependencyOf?.(raw);
    // A domain error is answered as its mapping says, whatever its cause.
    if (mapped) {
      err = mapped;
    } else if (raw.validation) {
      err = validationError(raw.validation, raw.validationContext ?? "body");
    } else if (POSTGRES_TEXT_CODES.has(String((raw as { code?: unknown }).code))) {
      // A character PostgreSQL cannot store that got past the parsers' checks: the client's fault, not ours.
      err = new HttpErrors.INVALID_CHARACTER("a value PostgreSQL cannot store as text");
    } else if (raw.code && FASTIFY_CODES[raw.code]) {
      err = (FASTIFY_CODES[raw.code] as (e: FastifyError) => FastifyError)(raw);
    } else if (raw instanceof SyntaxError) {
      err = new HttpErrors.MALFORMED_BODY(raw.message);
    } else if (dependency) {
      // Before the client-gone check: a store's connection reset is an outage, not the client leaving.
      opts.onDependencyDown?.(dependency, raw);
      err = new HttpErrors.DEPENDENCY_UNAVAILABLE(dependency);
    } else if (request.raw.aborted && !(raw.code in HttpErrors)) {
      err = new HttpErrors.CLIENT_DISCONNECTED();
    } else if (CLIENT_GONE.has(String(raw.code))) {
      // A reset while the client is still there is one of our own connections breaking: a store's socket
      // reset in the middle of a query (PostgreSQL's "read ECONNRESET" names no port to tell which store).
      // An outage to retry, not the client's fault (it was answered 400 CLIENT_DISCONNECTED).
      const socket = request.raw.socket;
      if (!socket || socket.destroyed || !socket.writable) err = new HttpErrors.CLIENT_DISCONNECTED();
      else {
        err = new HttpErrors.DEPENDENCY_UNAVAILABLE("a store connection");
      }
    }
    const known = typeof err.code === "string" && err.code in HttpErrors;
    const status = known ? (err.statusCode ?? 500) : 500;
    const code = known ? err.code : "INTERNAL";
    // Throttling errors carry how long to wait (on themselves or on the domain error they wrap).
    const wait =
      (err as { retryAfterSeconds?: number }).retryAfterSeconds ??
      (err as { cause?: { retryAfterSeconds?: number } }).cause?.retryAfterSeconds;
    if (status === 429 && wait !== undefined) reply.header("retry-after", String(wait));
    if (status === 503) reply.header("retry-after", String(wait ?? opts.retryAfterSeconds));
    const outage = dependency ?? opts.outageCodes?.[code];
    if (outage && !dependency) opts.onDependencyDown?.(outage, raw);
    // Only what nobody expected is an error line. Outages are logged once by their tracker, overload and
    // clients that went away are counted; neither is logged per request above debug.
    if (status >= 500 && status !== 503) request.log.error({ err: raw, code }, "request failed");
    else if (status === 503 && code !== "OVERLOADED" && !outage) {
      request.log.warn({ err: raw, code }, "request refused: unavailable");
    } else if (code === "CLIENT_DISCONNECTED" || code === "OVERLOADED" || outage) {
      request.log.debug({ err: raw, code }, "request not served");
    }
    opts.onError?.(code, status);
    const body: ErrorBody = { error: { code, message: known ? err.message : "internal error" } };
    return reply.code(status).type("application/json").send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    // A path that exists under other methods is a 405 with Allow, not a 404.
    const allowed = METHODS.filter((method) => app.findRoute({ method: method as "GET", url: path }));
    const err =
      allowed.length > 0
        ? new HttpErrors.METHOD_NOT_ALLOWED(`${request.method} ${path} (allowed: ${allowed.join(", ")})`)
        : new HttpErrors.NOT_FOUND(`${request.method} ${path}`);
    if (allowed.length > 0) reply.header("allow", allowed.join(", "));
    opts.onError?.(err.code, err.statusCode ?? 404);
    return reply
      .code(err.statusCode ?? 404)
      .type("application/json")
      .send({ error: { code: err.code, message: err.message } } satisfies ErrorBody);
  });
}

/** The error handler as a plugin that applies to the whole app. */
export default fp(errorHandler, { name: "smstats-error-handler" });
