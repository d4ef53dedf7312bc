import { createHmac } from "node:crypto";

// Each hash names its purpose inside the HMAC input, so a crafted song (artist = an instance id,
// title = a user id) can never produce the hash of a user.
const SONG = "song\u0000";
const USER = "user\u0000";

/** The comparable form of a song field: Unicode NFC, whitespace runs as one space, trimmed, lowercased. */
export function songKeyPart(value: string | null): string {
  return (value ?? "").normalize("NFC").replace(/\s+/gu, " ").trim().toLowerCase();
}

/**
 * HMAC-SHA256 hex of the song's normalised artist and title, equal across instances so analysts can count
 * unique songs fleet-wide; '' when both are unknown.
 */
export function songHash(secret: Buffer, artist: string | null, title: string | null): string {
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
  return createHmac("sha256", secret).update(`${USER}${instanceId}\u0000${userId}`, "utf8").digest("hex");
}
