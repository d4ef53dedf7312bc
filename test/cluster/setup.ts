import { clusterUp } from "../../stack/cluster/index.ts";

/** Brings the cluster stack up (and the single stack beside it) before the cluster suites. */
export default async function setup() {
  await clusterUp({ log: (line) => console.log(`· ${line}`) });
}
