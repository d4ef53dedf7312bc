/** Stable codes for every way the local stack can fail; the CLI prints them and tests match on them. */
export type StackErrorCode =
  /** A server binary is missing and we are not root, so we cannot apt-get it. */
  | "STACK_INSTALL_NEEDS_ROOT"
  /** apt-get ran but a binary is still missing, or apt-get itself failed. */
  | "STACK_INSTALL_FAILED"
  /** A port of the stack is held by a process that is not this stack's server. */
  | "STACK_PORT_BUSY"
  /** A server exited during start, or a start step (initdb, createdb) failed. */
  | "STACK_START_FAILED"
  /** A server did not answer within the start timeout. */
  | "STACK_START_TIMEOUT"
  /** A server answered but rejected the password kept in the secrets folder. */
  | "STACK_AUTH_FAILED"
  /** The postgres system user cannot reach the data folder. */
  | "STACK_NOT_TRAVERSABLE"
  /** A helper command (initdb, id, apt-get) exited non-zero. */
  | "STACK_COMMAND_FAILED"
  /** We may not signal a recorded process (it belongs to another user). */
  | "STACK_STOP_FAILED"
  /** Wrong CLI arguments or API options. */
  | "STACK_USAGE";

/** An error of the local stack: a stable code, a message meant for a person, and the underlying cause. */
export class StackError extends Error {
  /** Stable code, see StackErrorCode. */
  readonly code: StackErrorCode;

  constructor(code: StackErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StackError";
    this.code = code;
  }
}
