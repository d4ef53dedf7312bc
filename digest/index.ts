export { barChartPng } from "./chart.ts";
export { type DigestFigures, type DigestWeek, digestWeek, type PipelineHealth } from "./figures.ts";
export { readPipelineHealth } from "./pipeline-health.ts";
export { scheduleDigest } from "./schedule.ts";
export { buildDigest, collectDigest, type DigestSources, digestSections, sendDigest } from "./send-digest.ts";
