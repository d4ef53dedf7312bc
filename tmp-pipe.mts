import { startPipeline, removeNamespaceStreams } from "./loadtest/service.ts";
import { clusterHandle } from "./stack/cluster/index.ts";
import { clusterEnv } from "./test/cluster/support.ts";
const env = { ...clusterEnv(clusterHandle(), "pipetry"), SMSTATS_LOG_LEVEL: "info" };
const t = Date.now();
try {
  const p = await startPipeline(env, 120_000);
  console.log("ready in", Date.now() - t);
  console.log(p.output().slice(-3000));
  await p.stop();
} catch (e) { console.log(String(e).slice(-5000)); }
await removeNamespaceStreams(env);
