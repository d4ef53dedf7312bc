import { randomUUID } from "node:crypto";

/** A registered instance: what a SongMartyn instance keeps after registration. */
export interface BenchInstance {
  instanceId: string;
  token: string;
  /** The raw 32-byte signing secret. */
  secret: Buffer;
  tier: string;
}

/** Registers `count` fresh instances through the real ingest's API, each consenting to every family. */
export async function registerInstances(baseUrl: string, count: number): Promise<BenchInstance[]> {
  const register = async (): Promise<BenchInstance> => {
    const res = await fetch(`${baseUrl}/v1/instances/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        hwid: randomUUID().replaceAll("-", ""),
        platform: "linux",
        version: "1.2.0",
        consent: { quality: true, playback: true, session: true, library: true },
      }),
    });
    const body = (await res.json()) as Record<string, string>;
    if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${JSON.stringify(body)}`);
    return {
      instanceId: String(body.instance_id),
      token: String(body.instance_token),
      secret: Buffer.from(String(body.signing_secret), "base64url"),
      tier: String(body.tier),
    };
  };
  return Promise.all(Array.from({ length: count }, register));
}
