const PATH_KEYS = new Set(["path", "file", "file_path", "filepath", "filename", "file_name"]);
// Absolute paths: POSIX (/…), home (~/…), Windows drive (C:\… or C:/…), UNC (\\host\…) and file: URLs.
const ABSOLUTE_PATH = /^(?:\/|~[\\/]|[a-z]:[\\/]|\\\\|file:)/i;

/**
 * A metric's tags without any that could carry a local file's name or path: keys named like a path or
 * file name (path, file, file_path, filename, …) and values that are absolute paths. A route-like value
 * (/v1/…) is dropped too: tags are dimensions, and none of the seed's known tags is a path.
 */
export function withoutPathTags(tags: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(tags)) {
    if (PATH_KEYS.has(key.toLowerCase()) || ABSOLUTE_PATH.test(value.trim())) continue;
    out[key] = value;
  }
  return out;
}
