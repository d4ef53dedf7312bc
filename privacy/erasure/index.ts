export { eraseClickHouse } from "./erase-clickhouse.ts";
export { eraseJetStream, messageOfInstance } from "./erase-jetstream.ts";
export { erasePostgres } from "./erase-postgres.ts";
export { eraseRedis, redisValueText } from "./erase-redis.ts";
export { createErasureWorker, type ErasureWorker } from "./erasure-worker.ts";
export {
  type ClaimedJob,
  createErasureJobStore,
  ERASURE_STEPS,
  type ErasureStatus,
  type ErasureStep,
  erasureStatus,
  requestErasure,
} from "./job-store.ts";
export { clickHouseClusterOf, type ErasureDeps, runErasure } from "./run-erasure.ts";
export { type ErasureSubject, instanceRef, redactSubject, subjectNeedles } from "./subject.ts";
