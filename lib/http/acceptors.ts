import { spawn } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";

/**
 * Node 20's libuv (1.45 and later, "unix: don't accept() connections in a loop") accepts one connection
 * per listening handle per event-loop iteration. A saturated loop, each iteration serving hundreds of
 * keep-alive requests for 25–40 ms, then accepts about 25 connections a second: new clients wait in the
 * kernel's accept queue, out of reach of load shedding, and time out there (measured under the 20×
 * overload test: the queue held up to 236 connections and drained at 2–3 per 100 ms; every request that
 * went unanswered within 2 s had come on a new connection).
 *
 * `addAcceptors` gives the listening server `count - 1` more handles on the same socket (duplicates of its
 * file descriptor, each polled on its own), so an iteration accepts up to `count` connections. Accepted
 * connections are handed to the server as its own (its connection hooks, timeouts, limits and close
 * apply to them). Node has no API to duplicate a descriptor in-process, so a short-lived helper process
 * receives the listening handle over IPC and sends it back `count - 1` times (each send is a new
 * descriptor here, SCM_RIGHTS); the helper never listens on it, so it never takes a connection.
 */
export interface Acceptors {
  /** Handles accepting for the server, its own included. */
  readonly count: number;
  /** Stops the added handles from accepting (the server's own is closed by server.close()). */
  close(): void;
}

// The helper: sends the handle it got back as many times as asked (Node sends handles one at a time, each
// after the receiver's acknowledgement), and leaves when the parent disconnects. Its "message" listener
// stays on, which keeps the channel read for those acknowledgements.
const HELPER = `process.on("message", (m, h) => {
  if (h) for (let i = 0; i < m.copies; i++) process.send({ copy: i }, h);
});`;

interface WithHandle {
  _handle?: object | null;
  _connections: number;
}

/** Duplicates of a listening handle, received from the helper process. */
function duplicates(handle: object, copies: number, timeoutMs: number): Promise<object[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", HELPER], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    const got: object[] = [];
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`the acceptor helper sent ${got.length} of ${copies} handles within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("message", (_m, h) => {
      if (h) got.push(h as object);
      if (got.length === copies) {
        clearTimeout(timer);
        child.disconnect();
        resolve(got);
      }
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", () => {
      clearTimeout(timer);
      if (got.length < copies)
        reject(new Error(`the acceptor helper exited after ${got.length} of ${copies} handles`));
    });
    // A raw TCP handle travels as "net.Native": the helper gets it as is and does not listen on it.
    child.send({ copies }, handle as never);
  });
}

/**
 * Adds `count - 1` handles accepting for a listening server (see the module's comment). With count ≤ 1,
 * or a server not listening on a TCP socket, nothing is added.
 */
export async function addAcceptors(server: Server, count: number, timeoutMs = 10_000): Promise<Acceptors> {
  const own = (server as unknown as WithHandle)._handle;
  if (count <= 1 || !own) return { count: 1, close() {} };
  const handles = await duplicates(own, count - 1, timeoutMs);
  const opts = server as unknown as { allowHalfOpen?: boolean; noDelay?: boolean };
  const extra = handles.map((handle) => {
    const s = createServer(
      { allowHalfOpen: opts.allowHalfOpen ?? true, noDelay: opts.noDelay ?? true },
      (socket: Socket) => {
        // The connection is the server's: counted in its connections (getConnections(), and close()
        // waits for it as for its own), then handed to its "connection" listeners.
        (s as unknown as WithHandle)._connections--;
        (server as unknown as WithHandle)._connections++;
        (socket as unknown as { _server: Server })._server = server;
        server.emit("connection", socket);
      },
    );
    // A handle object listens where it already is (Node: exclusive, not through the cluster primary).
    s.listen(handle as never);
    s.on("error", (err) => server.emit("error", err));
    return s;
  });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const s of extra) s.close();
  };
  return { count: extra.length + 1, close };
}
