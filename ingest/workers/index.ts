export { type DigestScheduleOptions, default as digestSchedule } from "./digest-schedule.ts";
export { createIngestErasureWorker, default as erasureJobs } from "./erasure-jobs.ts";
export { default as expiryNotices, type ExpiryNoticesOptions } from "./expiry-notices.ts";
export { default as seatReaper, type SeatReaperOptions } from "./seat-reaper.ts";
export { default as webhookDeliveries } from "./webhook-deliveries.ts";
