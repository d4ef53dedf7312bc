import { createHmac } from "node:crypto";
import { boundedMemo } from "../../../lib/memo.ts";

// Each hash names its purpose inside the HMAC input, so a crafted song (artist = an instance id,
// title = a user id) can never produce the hash of a user.
const SONG = "song\u0000";
const USER = "user\u0000";

/** The comparable form of a song field: Unicode NFC, whitespace runs as one space, trimmed, lowercased. */
export function songKeyPart(value: string | null): string {
  return (value ?? "").normalize("NFC").replace(/\s+/gu, " ").trim().toLowerCase();
}

// Keyed hashes already computed, per secret: the same songs and users come back batch after batch, and
// an HMAC (a hash object, two SHA-256 passes, hex) plus Unicode normalisation per item was the anonymize
// step's largest cost (bench:processors profile). Each map is emptied when it reaches MEMO_MAX entries,
// so memory stays bounded (about 10 MB per map) whatever the traffic.
const MEMO_MAX = 50_000;
const memos = new WeakMap<Buffer, ReturnType<typeof boundedMemo<string>>>();

/**
 * The keyed hash stored for `key` under `secret`, computed once per key (see above). `key` must name the
 * hash's purpose and every input, so no two different hashes share one.
 */
export function memoized(secret: Buffer, key: string, compute: () => string): string {
  let memo = memos.get(secret);
  if (!memo) {
    memo = boundedMemo<string>(MEMO_MAX);
    memos.set(secret, memo);
  }
  return memo(key, compute);
}

/**
 * HMAC-SHA256 hex of the song's normalised artist and title, equal across instances so analysts can count
 * unique songs fleet-wide; '' when both are unknown.
 */
export function songHash(secret: Buffer, artist: string | null, title: string | null): string {
  // Length-prefixed, so no two (artist, title) pairs, null included, share a key.
  const key = `s${artist === null ? -1 : artist.length}:${artist ?? ""}${title === null ? -1 : title.length}:${title ?? ""}`;
  return memoized(secret, key, () => computeSongHash(secret, artist, title));
}

function computeSongHash(secret: Buffer, artist: string | null, title: string | null): string {
  const a = songKeyPart(artist);
  const t = songKeyPart(title);
  if (!a && !t) return "";
  return createHmac("sha256", secret).update(`${SONG}${a}\u0000${t}`, "utf8").digest("hex");
}

/**
 * HMAC-SHA256 hex of a user id salted with its instance, so users are countable per instance but one
 * person cannot be followed from one venue to another; '' when the id is absent.
 */
export function userHash(secret: Buffer, instanceId: string, userId: string | null): string {
  if (!userId) return "";
  return memoized(secret, `u${instanceId.length}:${instanceId}${userId}`, () =>
    computeUserHash(secret, instanceId, userId),
  );
}

function computeUserHash(secret: Buffer, instanceId: string, userId: string): string {
  return createHmac("sha256", secret).update(`${USER}${instanceId}\u0000${userId}`, "utf8").digest("hex");
}
