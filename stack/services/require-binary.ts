import { StackError } from "../errors.ts";
import type { InstallTarget, LocateBinary } from "../install.ts";

/** The absolute path of a service's binary; install runs first, so absence here is a broken install. */
export function requireBinary(target: InstallTarget, binary: string, locate: LocateBinary): string {
  const path = locate(target, binary);
  if (path === undefined) {
    throw new StackError(
      "STACK_INSTALL_FAILED",
      `${target.name}: ${binary} not found (packages: ${target.packages.join(" ")})`,
    );
  }
  return path;
}
