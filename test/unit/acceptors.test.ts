import { createServer, request, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { addAcceptors } from "../../lib/http/acceptors.ts";

// Node accepts one connection per listening handle per event-loop iteration: on a loop kept busy (each
// iteration 20 ms of work, as a saturated ingest's are), 100 new connections take 100 iterations to be
// accepted with the server's one handle, and a few with 32.
const ITERATION_MS = 20;
const CONNECTIONS = 100;

let busy: NodeJS.Immediate | undefined;
function keepLoopBusy() {
  const spin = () => {
    const until = performance.now() + ITERATION_MS;
    while (performance.now() < until) {}
    busy = setImmediate(spin);
  };
  busy = setImmediate(spin);
}
const servers: Server[] = [];
const clients: Socket[] = [];
afterEach(async () => {
  if (busy) clearImmediate(busy);
  busy = undefined;
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listening(): Promise<{ server: Server; port: number }> {
  const server = createServer((_req, res) => res.end("served"));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port };
}

/** Milliseconds until the server has seen `CONNECTIONS` new connections, opened at once, on a busy loop. */
async function acceptTime(server: Server, port: number): Promise<number> {
  let seen = 0;
  const all = new Promise<void>((resolve) =>
    server.on("connection", () => {
      if (++seen === CONNECTIONS) resolve();
    }),
  );
  const started = performance.now();
  for (let i = 0; i < CONNECTIONS; i++) clients.push(connect(port, "127.0.0.1"));
  keepLoopBusy();
  await all;
  const ms = performance.now() - started;
  if (busy) clearImmediate(busy);
  return ms;
}

describe("addAcceptors", () => {
  it("accepts many connections per iteration of a busy loop, where the server's own handle accepts one", async () => {
    const one = await listening();
    const alone = await acceptTime(one.server, one.port);

    const many = await listening();
    const acceptors = await addAcceptors(many.server, 32);
    expect(acceptors.count).toBe(32);
    const fanned = await acceptTime(many.server, many.port);
    acceptors.close();

    console.info(
      `${CONNECTIONS} connections on a loop busy ${ITERATION_MS} ms per iteration: accepted in ${alone.toFixed(0)} ms with one handle, ${fanned.toFixed(0)} ms with 32`,
    );
    expect(alone).toBeGreaterThan(CONNECTIONS * ITERATION_MS * 0.5);
    expect(fanned).toBeLessThan(alone / 4);
  });

  it("serves the connections it accepts as the server's own: requests, timeouts, close", async () => {
    const { server, port } = await listening();
    const acceptors = await addAcceptors(server, 8);
    const timedOut: Socket[] = [];
    server.setTimeout(300);
    server.on("timeout", (socket: Socket) => {
      timedOut.push(socket);
      socket.destroy();
    });
    // Enough requests at once that most arrive on the added handles.
    const answers = await Promise.all(
      Array.from(
        { length: 40 },
        () =>
          new Promise<string>((resolve, reject) => {
            const req = request({ port, host: "127.0.0.1", agent: false, path: "/" }, (res) => {
              let body = "";
              res.on("data", (d) => {
                body += d;
              });
              res.on("end", () => resolve(body));
            });
            req.on("error", reject);
            req.end();
          }),
      ),
    );
    expect(answers.every((a) => a === "served")).toBe(true);

    // A silent connection is reported to the server's timeout listeners, whichever handle took it.
    const silent = Array.from({ length: 8 }, () => connect(port, "127.0.0.1"));
    clients.push(...silent);
    await new Promise((r) => setTimeout(r, 100));
    // Counted as the server's connections (close() waits for them as for its own).
    const open = await new Promise<number>((r, j) => server.getConnections((e, n) => (e ? j(e) : r(n))));
    expect(open).toBe(8);
    await new Promise((r) => setTimeout(r, 700));
    expect(timedOut.length).toBeGreaterThanOrEqual(8);

    // close() on the server and the acceptors: nothing accepts any more.
    acceptors.close();
    await new Promise((r) => server.close(r));
    servers.splice(servers.indexOf(server), 1);
    const refused = await new Promise<string>((resolve) => {
      const c = connect(port, "127.0.0.1");
      c.on("connect", () => {
        c.destroy();
        resolve("connected");
      });
      c.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    });
    expect(refused).toBe("ECONNREFUSED");
  });
});
