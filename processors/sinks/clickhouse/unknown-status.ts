/**
 * ClickHouse's UNKNOWN_STATUS_OF_INSERT (code 319): a replicated table lost its ZooKeeper session while
 * committing a part, so the insert may or may not have happened. The part can sit on the local replica
 * without being registered in ZooKeeper: it is then never replicated, and the replica's part check
 * detaches it later. The server's answer to this error is "retry the same insert": a replicated table
 * drops a block it already committed (block de-duplication), so the identical insert stores the rows
 * exactly once either way.
 *
 * The redelivery path cannot do this: its already-inserted check sees the uncommitted part and skips the
 * batch, whose rows then vanish when the part is detached (seen about once in 19 cluster fault runs with
 * ZooKeeper killed under load). So after a 319 the sink repeats the identical insert, through whatever
 * errors come while ZooKeeper is away (a read-only table, refused connections), until it succeeds or the
 * deadline passes.
 */
export const UNKNOWN_STATUS_OF_INSERT = "319";

/**
 * The ClickHouse error code of an insert error: the client parses it out of newer servers' answers;
 * 18.16's ("Code: 72, e.displayText() = …") reach us as a plain Error whose message starts with it.
 */
export function clickhouseCode(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code ?? /^Code: (\d+)/.exec(err.message)?.[1];
  return code === undefined ? undefined : String(code);
}

export interface UnknownStatusRetry {
  /** How long to keep repeating the insert after a 319, ms. */
  deadlineMs: number;
  /** First wait between attempts, ms; doubles up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Told of each repeat (for a counter). */
  onRetry?: (attempt: number, err: unknown) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export const DEFAULT_UNKNOWN_STATUS_RETRY: UnknownStatusRetry = {
  deadlineMs: 120_000,
  baseDelayMs: 250,
  maxDelayMs: 5_000,
};

/**
 * Runs `insert` (which must send the identical bytes each time); an error other than 319 on the first
 * attempt is thrown as is (the caller's redelivery handles it). After a 319, repeats until the insert
 * succeeds; the last error is thrown once `deadlineMs` has passed.
 */
export async function insertRepeatingUnknownStatus(
  insert: () => Promise<void>,
  opts: UnknownStatusRetry = DEFAULT_UNKNOWN_STATUS_RETRY,
): Promise<void> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = opts.now ?? Date.now;
  try {
    await insert();
    return;
  } catch (err) {
    if (clickhouseCode(err) !== UNKNOWN_STATUS_OF_INSERT) throw err;
    opts.onRetry?.(1, err);
  }
  const deadline = now() + opts.deadlineMs;
  for (let attempt = 1; ; attempt++) {
    await sleep(Math.min(opts.baseDelayMs * 2 ** (attempt - 1), opts.maxDelayMs));
    try {
      await insert();
      return;
    } catch (err) {
      if (now() >= deadline) throw err;
      opts.onRetry?.(attempt + 1, err);
    }
  }
}
