/** Thrown by a command whose arguments do not fit; the CLI prints the usage and exits 2. */
export class UsageError extends Error {}
