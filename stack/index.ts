/** Local stack: NATS (JetStream), ClickHouse, PostgreSQL and Redis from Debian packages, on loopback ports. */
export type { StackOptions } from "./context.ts";
export { type ServiceDownResult, type StackDownOptions, type StackDownResult, stackDown } from "./down.ts";
export { StackError, type StackErrorCode } from "./errors.ts";
export { type InstallPlan, planInstall } from "./install.ts";
export { resolveDataDir, type ServiceName } from "./paths.ts";
export { DEFAULT_PORT_BASE, type StackPorts, stackPorts } from "./ports.ts";
export { type ServiceState, type ServiceStatus, type StackStatus, stackStatus } from "./status.ts";
export { type ServiceUpResult, type StackUpOptions, type StackUpResult, stackUp } from "./up.ts";
