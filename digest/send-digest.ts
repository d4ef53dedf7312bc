import type pg from "pg";
import type { ClickHouseExecutor } from "../lib/clients/index.ts";
import { type DigestSection, digestMail, type Mail, type Mailer } from "../mail/index.ts";
import { barChartPng } from "./chart.ts";
import {
  type DigestFigures,
  digestWeek,
  licenseFigures,
  type PipelineHealth,
  rollupFigures,
} from "./figures.ts";

/** Where the digest's figures come from. */
export interface DigestSources {
  ch: ClickHouseExecutor;
  pg: pg.Pool;
  pipeline(): Promise<PipelineHealth>;
}

/** Collects every figure of the week before `at`. */
export async function collectDigest(src: DigestSources, at: Date): Promise<DigestFigures> {
  const week = digestWeek(at);
  const [rollups, licenses, pipeline] = await Promise.all([
    rollupFigures(src.ch, week),
    licenseFigures(src.pg, week),
    src.pipeline(),
  ]);
  return { week, ...rollups, licenses, pipeline };
}

const change = (now: number, before: number) =>
  before === 0
    ? now === 0
      ? "±0 %"
      : "new"
    : `${now >= before ? "+" : ""}${(((now - before) / before) * 100).toFixed(1)} %`;
const n = (v: number | null) => (v === null ? "unknown" : v.toLocaleString("en-US"));

/** The digest's sections, in the order an admin reads them. */
export function digestSections(f: DigestFigures): DigestSection[] {
  return [
    {
      title: "Fleet",
      rows: [
        [
          "Active instances",
          `${n(f.active.thisWeek)} (${change(f.active.thisWeek, f.active.lastWeek)} on last week's ${n(f.active.lastWeek)})`,
        ],
        [
          "Plays",
          `${n(f.plays.thisWeek)} (${change(f.plays.thisWeek, f.plays.lastWeek)} on last week's ${n(f.plays.lastWeek)})`,
        ],
      ],
    },
    { title: "Versions (active instances)", rows: f.versions.map((v) => [v.app_version, n(v.active)]) },
    {
      title: "Error rate by version — biggest movers (errors per instance-hour)",
      rows: f.errorMovers.map((e) => [e.app_version, `${e.thisWeek} (last week ${e.lastWeek})`]),
    },
    {
      title: "Licenses",
      rows: [
        ["New", n(f.licenses.created)],
        ["Renewed", n(f.licenses.renewed)],
        ["Cancelled or revoked", n(f.licenses.cancelled)],
      ],
    },
    {
      title: "Pipeline health",
      rows: [
        ["Lag (messages waiting)", n(f.pipeline.lag)],
        ["Dead letters", n(f.pipeline.deadLetters)],
        ["Open sequence gaps", n(f.pipeline.openSequenceGaps)],
      ],
    },
  ];
}

/** The digest mail for the week before `at`, with the daily active instances chart inline. */
export async function buildDigest(
  src: DigestSources,
  at: Date,
  to: string[],
): Promise<{ mail: Mail; figures: DigestFigures }> {
  const figures = await collectDigest(src, at);
  const last = new Date(figures.week.to.getTime() - 86_400_000).toISOString().slice(0, 10);
  const mail = digestMail({
    to,
    week: `${figures.week.from.toISOString().slice(0, 10)} – ${last}`,
    sections: digestSections(figures),
    chart: await barChartPng(figures.daily.map((d) => d.active)),
  });
  return { mail, figures };
}

/** Builds and sends the digest. */
export async function sendDigest(
  src: DigestSources,
  mailer: Mailer,
  at: Date,
  to: string[],
): Promise<DigestFigures> {
  const { mail, figures } = await buildDigest(src, at, to);
  await mailer.send("digest", mail);
  return figures;
}
