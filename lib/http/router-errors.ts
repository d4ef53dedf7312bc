import type { Socket } from "node:net";
import type { FastifyReply, FastifyRequest } from "fastify";
import { type ErrorBody, HttpErrors } from "./errors.ts";

/**
 * Fastify's `frameworkErrors`: errors the router raises before any route runs (an over-long path
 * parameter, a URL that does not decode), answered in the API's error shape with stable codes.
 */
export function frameworkErrors(error: { code?: string }, _request: FastifyRequest, reply: FastifyReply) {
  const err =
    error.code === "FST_ERR_MAX_PARAM_LENGTH" ? new HttpErrors.URL_TOO_LONG() : new HttpErrors.BAD_URL();
  return reply
    .code(err.statusCode ?? 400)
    .type("application/json")
    .send({ error: { code: err.code, message: err.message } } satisfies ErrorBody);
}

const CLIENT_ERRORS: Record<string, { status: number; text: string; error: ErrorBody["error"] }> = {
  HPE_INVALID_METHOD: {
    status: 405,
    text: "Method Not Allowed",
    error: { code: "METHOD_NOT_ALLOWED", message: "method not allowed: unknown HTTP method" },
  },
  HPE_HEADER_OVERFLOW: {
    status: 431,
    text: "Request Header Fields Too Large",
    error: { code: "HEADERS_TOO_LARGE", message: "the request headers are too large" },
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    text: "Request Timeout",
    error: { code: "REQUEST_TIMEOUT", message: "the request took too long to arrive" },
  },
};

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses (an unknown method, oversized
 * headers, a timeout, bytes that are not HTTP) is answered in the API's error shape too, then closed.
 */
export function clientErrorHandler(err: { code?: string }, socket: Socket) {
  if (err.code === "ECONNRESET" || socket.destroyed || !socket.writable) return;
  const known = CLIENT_ERRORS[err.code ?? ""] ?? {
    status: 400,
    text: "Bad Request",
    error: { code: "MALFORMED_REQUEST", message: "the request is not valid HTTP/1.1" },
  };
  const body = JSON.stringify({ error: known.error } satisfies ErrorBody);
  socket.end(
    `HTTP/1.1 ${known.status} ${known.text}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
