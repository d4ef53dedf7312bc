const TOKEN = /^[a-z0-9]{1,8}$/;

/** A file extension as a bare token (lowercase letters and digits, at most 8), '' when it is not one. */
export function extensionToken(value: string | null): string {
  const token = (value ?? "").trim().replace(/^\./, "").toLowerCase();
  return TOKEN.test(token) ? token : "";
}

/**
 * The file type to store for a song: its file_type as a token, else the extension of its file_path.
 * Only the extension leaves this function; the path and the file's name never do.
 */
export function songFileType(fileType: string | null, filePath: string | null): string {
  if (fileType) return extensionToken(fileType);
  const name = (filePath ?? "").split(/[\\/]/).pop() ?? "";
  const dot = name.lastIndexOf(".");
  // A name with no dot, or only a leading one (.bashrc), has no extension.
  return dot > 0 ? extensionToken(name.slice(dot + 1)) : "";
}

/**
 * A library snapshot's per-extension counts with every key that is not an extension token (a name or
 * path sent by mistake) counted under "other", so totals still add up.
 */
export function fileTypeCounts(counts: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, n] of Object.entries(counts)) {
    const token = extensionToken(key) || "other";
    out[token] = (out[token] ?? 0) + n;
  }
  return out;
}
