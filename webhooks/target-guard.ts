import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { WebhookError } from "./errors.ts";

/** Whether an address is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, "").toLowerCase();
  if (a === "::1") return true;
  const v4 = a.startsWith("::ffff:") ? a.slice(7) : a;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

/**
 * Checks a webhook target URL: http(s) only and, unless remote targets are allowed (production), every
 * address its host resolves to must be loopback — so development and tests can never post to the world.
 * Checked when an endpoint is registered and again before every attempt (DNS may change).
 */
export async function checkWebhookTarget(url: string, allowRemote: boolean): Promise<URL> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new WebhookError("WEBHOOK_TARGET_REFUSED", `not a URL: ${url}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new WebhookError("WEBHOOK_TARGET_REFUSED", `only http and https targets, not ${u.protocol}`);
  }
  if (allowRemote) return u;
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const addresses = isIP(host)
    ? [host]
    : (await lookup(host, { all: true }).catch(() => [])).map((r) => r.address);
  if (addresses.length === 0 || !addresses.every(isLoopback)) {
    throw new WebhookError(
      "WEBHOOK_TARGET_REFUSED",
      `${u.host} is not a loopback address; remote webhook targets need SMSTATS_WEBHOOKS_ALLOW_REMOTE=true`,
    );
  }
  return u;
}
