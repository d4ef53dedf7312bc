import { existsSync, rmSync, writeFileSync } from "node:fs";
import { locateOnThisMachine } from "./binaries.ts";
import { StackError } from "./errors.ts";
import { runCommand } from "./process.ts";

/** What install needs to know about a service: its executables and the Debian packages that provide them. */
export interface InstallTarget {
  /** Service name, for messages. */
  readonly name: string;
  /** Executable names the service runs. */
  readonly binaries: readonly string[];
  /** Debian packages providing them. */
  readonly packages: readonly string[];
  /** Folders searched before PATH (PostgreSQL's versioned bin folder). */
  binDirs?(): string[];
}

/** Finds a binary of a service, or undefined when it is not installed. */
export type LocateBinary = (target: InstallTarget, binary: string) => string | undefined;

/** The outcome of looking for every binary: what is missing and which packages bring it. */
export interface InstallPlan {
  /** Missing executables, as `service/binary`. */
  missing: string[];
  /** Packages to install, deduplicated, in service order. */
  packages: string[];
}

/** Plans the install without touching the system: a service with any missing binary contributes all its packages. */
export function planInstall(targets: readonly InstallTarget[], locate: LocateBinary): InstallPlan {
  const missing: string[] = [];
  const packages: string[] = [];
  for (const target of targets) {
    const absent = target.binaries.filter((binary) => locate(target, binary) === undefined);
    if (absent.length === 0) continue;
    missing.push(...absent.map((binary) => `${target.name}/${binary}`));
    for (const pkg of target.packages) if (!packages.includes(pkg)) packages.push(pkg);
  }
  return { missing, packages };
}

/** The apt-get arguments that install a plan's packages. */
export function aptInstallArgs(packages: readonly string[]): string[] {
  return ["install", "-y", "--no-install-recommends", ...packages];
}

/** Locates a service's binary on this machine (its preferred folders, PATH, system folders). */
export const locateServiceBinary: LocateBinary = (target, binary) =>
  locateOnThisMachine(binary, target.binDirs?.() ?? []);

/** Options of ensureInstalled. */
export interface EnsureInstalledOptions {
  /** Whether we may run apt-get (process.getuid() === 0). */
  isRoot: boolean;
  /** Progress lines for a person. */
  log: (line: string) => void;
}

// Debian postinst scripts start each server on its default port; policy-rc.d answering 101 forbids that.
const policyRcPath = "/usr/sbin/policy-rc.d";

/**
 * Installs missing server packages with apt-get when root; otherwise fails with the exact command to run.
 * apt output goes straight to the terminal because it takes minutes and a person should see progress.
 */
export async function ensureInstalled(
  targets: readonly InstallTarget[],
  options: EnsureInstalledOptions,
): Promise<InstallPlan> {
  const plan = planInstall(targets, locateServiceBinary);
  if (plan.packages.length === 0) return plan;
  const command = `apt-get ${aptInstallArgs(plan.packages).join(" ")}`;
  if (!options.isRoot) {
    throw new StackError(
      "STACK_INSTALL_NEEDS_ROOT",
      `missing ${plan.missing.join(", ")}; install them with:\n  sudo apt-get update && sudo ${command}`,
    );
  }
  options.log(`installing ${plan.packages.join(" ")} (missing ${plan.missing.join(", ")})`);
  const ownPolicy = !existsSync(policyRcPath);
  if (ownPolicy)
    writeFileSync(
      policyRcPath,
      "#!/bin/sh\n# Written by smstats stack/ during apt-get install.\nexit 101\n",
      { mode: 0o755 },
    );
  try {
    await runCommand("apt-get", ["update"], { output: "inherit" });
    await runCommand("apt-get", aptInstallArgs(plan.packages), {
      output: "inherit",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    });
  } catch (err) {
    throw new StackError("STACK_INSTALL_FAILED", `${command} failed: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    // An existing policy-rc.d belongs to the machine (Docker images ship one); only ours is removed.
    if (ownPolicy) rmSync(policyRcPath, { force: true });
  }
  const after = planInstall(targets, locateServiceBinary);
  if (after.missing.length > 0) {
    throw new StackError("STACK_INSTALL_FAILED", `still missing after install: ${after.missing.join(", ")}`);
  }
  return plan;
}
