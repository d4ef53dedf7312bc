import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { ErrorBody } from "./errors.ts";
import { clientErrorHandler as answerClientError } from "./router-errors.ts";

/** Why a connection was cut before a route answered it (the label of the cut counter). */
export type CutReason =
  | "timeout"
  | "idle"
  | "per_address_limit"
  | "header_overflow"
  | "bad_request"
  | "reset";

/** The settings of the HTTP server that cut slow clients, in the shape Fastify's constructor takes. */
export function serverTimeouts(t: {
  headersMs: number;
  requestMs: number;
  keepAliveMs: number;
  idleMs: number;
  checkEveryMs: number;
}) {
  return {
    // Whole request (headers and body) and headers alone, checked every checkEveryMs: Node checks every
    // 30 s by default, which let trickling clients stay for a minute past a 30 s request timeout.
    requestTimeout: t.requestMs,
    keepAliveTimeout: t.keepAliveMs,
    // Socket inactivity: a connection that sends and receives nothing is closed.
    connectionTimeout: t.idleMs,
    http: {
      headersTimeout: Math.min(t.headersMs, t.requestMs),
      requestTimeout: t.requestMs,
      connectionsCheckingInterval: t.checkEveryMs,
    },
  };
}

function rawAnswer(status: number, code: string, message: string, extra = ""): string {
  const body = JSON.stringify({ error: { code, message } } satisfies ErrorBody);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`
  );
}

/**
 * Fastify's clientErrorHandler: a request the HTTP parser gave up on (a timeout, oversized headers, bytes
 * that are not HTTP) is answered in the API's error shape when the socket can still take it, cut, and
 * counted by reason. Nothing is logged: these are clients' faults, counted in /metrics.
 */
export function clientErrorHandler(onCut: (reason: CutReason) => void) {
  return (err: NodeJS.ErrnoException, socket: Socket) => {
    const reason: CutReason =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "timeout"
        : err.code === "HPE_HEADER_OVERFLOW"
          ? "header_overflow"
          : err.code === "ECONNRESET"
            ? "reset"
            : "bad_request";
    onCut(reason);
    if (socket.destroyed) return;
    const sent = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    // The answer in the error shape (405 for an unknown method, 408, 431, 400) ends the socket itself.
    // A client that never closes its side is cut a second later all the same.
    if (socket.writable && !sent && reason !== "reset") {
      answerClientError(err, socket);
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    socket.destroy();
  };
}

/**
 * Cuts slow and greedy clients on the listening server: a connection idle past the server's timeout is
 * closed (counted "idle"; a keep-alive connection past its keep-alive timeout is closed uncounted), and an address holding `maxPerAddress` connections gets 503 with Retry-After
 * and a closed socket for each further one (counted "per_address_limit"). Behind a proxy every
 * connection comes from the proxy's address: raise the cap there.
 */
export function guardConnections(
  server: Server,
  opts: {
    maxPerAddress: number;
    retryAfterSeconds: number;
    onCut: (reason: CutReason) => void;
    /** An HTTPS server: connections are judged once TLS is up, so the 503 reaches the client encrypted. */
    tls?: boolean;
  },
): void {
  const open = new Map<string, number>();
  server.on(opts.tls ? "secureConnection" : "connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "unknown";
    const n = (open.get(address) ?? 0) + 1;
    if (n > opts.maxPerAddress) {
      opts.onCut("per_address_limit");
      socket.on("error", () => {});
      socket.end(
        rawAnswer(
          503,
          "TOO_MANY_CONNECTIONS",
          `more than ${opts.maxPerAddress} concurrent connections from this address`,
          `Retry-After: ${opts.retryAfterSeconds}\r\n`,
        ),
      );
      socket.destroySoon();
      return;
    }
    open.set(address, n);
    socket.once("close", () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
  // Node reports two silences here: a connection idle past the server's timeout (a cut, counted "idle"),
  // and a keep-alive connection that outlived the keep-alive timeout after its last answer (closed as
  // Node would, not counted: that is how keep-alive connections end).
  const served = new WeakSet<object>();
  const busy = new WeakSet<object>();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    served.add(socket);
    busy.add(socket);
    res.once("close", () => busy.delete(socket));
  });
  // With a listener here Node no longer destroys timed-out sockets itself.
  server.on("timeout", (socket: Socket) => {
    if (!served.has(socket) || busy.has(socket)) opts.onCut("idle");
    socket.destroy();
  });
}
