/**
 * Thrown by a command whose arguments do not fit; the CLI prints one line (code, reason, where to find the
 * usage) and exits 2. `code` is ARGUMENT_MISSING for a required option or operand that is absent,
 * ARGUMENTS_INVALID otherwise.
 */
export class UsageError extends Error {
  override readonly name = "UsageError";
  constructor(
    message: string,
    readonly code: "ARGUMENTS_INVALID" | "ARGUMENT_MISSING" | "COMMAND_UNKNOWN" = "ARGUMENTS_INVALID",
  ) {
    super(message);
  }
}

/** Throws ARGUMENT_MISSING naming the first of `names` (options, as `--name`) that has no value. */
export function requireOptions(values: Record<string, unknown>, names: string[], command: string): void {
  for (const name of names) {
    const v = values[name];
    if (v === undefined || v === "" || (Array.isArray(v) && v.length === 0))
      throw new UsageError(`\`smstats ${command}\` needs --${name}`, "ARGUMENT_MISSING");
  }
}

/** Throws ARGUMENT_MISSING when the operand (e.g. "<license id | key>") is absent. */
export function requireOperand(value: string | undefined, operand: string, command: string): string {
  if (!value) throw new UsageError(`\`smstats ${command}\` needs ${operand}`, "ARGUMENT_MISSING");
  return value;
}

/** Throws COMMAND_UNKNOWN unless `command` is one of `known` (the area's subcommands). */
export function requireCommand(area: string, command: string | undefined, known: string[]): string {
  if (command && known.includes(command)) return command;
  throw new UsageError(
    command
      ? `\`smstats ${area}\` has no command \`${command}\` (commands: ${known.join(", ")})`
      : `\`smstats ${area}\` needs a command: ${known.join(", ")}`,
    command ? "COMMAND_UNKNOWN" : "ARGUMENT_MISSING",
  );
}
