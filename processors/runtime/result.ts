/**
 * What a step decides for one message, after PostHog's ingestion steps. One runner turns these into
 * JetStream outcomes: ok → continue (ack after the sink), drop → ack and count, retry → nak(delay),
 * deadLetter → term and count (a dead-letter stream replaces the term in a later step of the project).
 */
export type StepResult<T> =
  | { kind: "ok"; value: T }
  | { kind: "drop"; reason: string }
  | { kind: "retry"; reason: string; delayMs: number }
  | { kind: "deadLetter"; reason: string; detail: string };

/** Continue with a value. */
export const ok = <T>(value: T): StepResult<T> => ({ kind: "ok", value });
/** Drop the message on purpose, counted by reason. */
export const drop = <T = never>(reason: string): StepResult<T> => ({ kind: "drop", reason });
/** Try the message again later. */
export const retry = <T = never>(reason: string, delayMs: number): StepResult<T> => ({
  kind: "retry",
  reason,
  delayMs,
});
/** The message can never succeed; set it aside with the reason. */
export const deadLetter = <T = never>(reason: string, detail: string): StepResult<T> => ({
  kind: "deadLetter",
  reason,
  detail,
});
