import { isIP } from "node:net";

const PATH_KEYS = new Set(["path", "file", "file_path", "filepath", "filename", "file_name"]);
// Absolute paths: POSIX (/…), home (~/…), Windows drive (C:\… or C:/…), UNC (\\host\…) and file: URLs.
const ABSOLUTE_PATH = /^(?:\/|~[\\/]|[a-z]:[\\/]|\\\\|file:)/i;
// Keys and values that carry a network address: an IP is personal data (the design keeps only a country).
const ADDRESS_KEYS = new Set(["ip", "ip_address", "client_ip", "remote_addr", "host", "hostname"]);

/** Whether a value holds an IP address anywhere (alone, with a port, in brackets or inside text). */
function containsAddress(value: string): boolean {
  // Every IPv4 has a digit and a dot, every IPv6 a colon: most tag values ("search", "mpv") have neither.
  if (!(value.includes(".") && /\d/.test(value)) && !value.includes(":")) return false;
  return value
    .split(/[\s,;=()"'<>[\]/]+/)
    .some((token) => isIP(token) !== 0 || isIP(token.replace(/:\d+$/, "")) !== 0);
}

/**
 * A metric's tags without any that could carry a local file's name or path, or a network address: keys
 * named like a path, file name or address (path, file, filename, ip, host, …), values that are absolute
 * paths, and values that contain an IPv4 or IPv6 address. A route-like value
 * (/v1/…) is dropped too: tags are dimensions, and none of the seed's known tags is a path. Returns
 * `tags` itself when it keeps all of them; never modifies it.
 */
export function withoutPathTags(tags: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  let removed = false;
  for (const key in tags) {
    const value = tags[key] as string;
    const k = key.toLowerCase();
    if (
      PATH_KEYS.has(k) ||
      ABSOLUTE_PATH.test(value.trim()) ||
      ADDRESS_KEYS.has(k) ||
      containsAddress(value)
    ) {
      removed = true;
      continue;
    }
    out[key] = value;
  }
  // Nothing to strip (the usual case): the same object, so the caller need not copy the metric.
  return removed ? out : tags;
}
