import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../lib/net/index.ts";
import { PortTakenError, startPipeline } from "../../loadtest/service.ts";
import { TEST_ENV } from "../support/env.ts";

// freePort() releases the kernel's pick before the child binds it, so another process can take it in
// between (seen in CI: the k6 harness's child died with EADDRINUSE). These runs take that port on purpose.
let squatter: Server;
let taken: number;

beforeAll(async () => {
  squatter = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
  taken = (squatter.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => squatter.close(resolve));
});

describe("startPipeline when a chosen port is taken before the child binds it", () => {
  it("chooses new ports and starts", async () => {
    let calls = 0;
    const choosePort = async () => (++calls === 1 ? taken : freePort());
    const pipeline = await startPipeline(TEST_ENV, 60_000, undefined, { choosePort });
    try {
      expect(pipeline.ports.ingest).not.toBe(taken);
      expect(calls).toBeGreaterThan(3); // a second set of three ports was chosen
      expect((await fetch(`${pipeline.ingestUrl}/health/ready`)).status).toBe(200);
    } finally {
      await pipeline.stop("SIGTERM");
    }
  });

  it("says the port was taken when it may not choose again", async () => {
    const choosePort = async () => taken;
    await expect(
      startPipeline(TEST_ENV, 60_000, undefined, { choosePort, portAttempts: 1 }),
    ).rejects.toBeInstanceOf(PortTakenError);
  });

  it("never moves ports the caller fixed", async () => {
    const fixed = { ingest: taken, processor: await freePort(), ingestMetrics: await freePort() };
    let chosen = 0;
    const choosePort = async () => {
      chosen++;
      return freePort();
    };
    await expect(startPipeline(TEST_ENV, 60_000, fixed, { choosePort })).rejects.toBeInstanceOf(
      PortTakenError,
    );
    expect(chosen).toBe(0);
  });
});
