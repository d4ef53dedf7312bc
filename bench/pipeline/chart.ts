import { lagsMs, type PhaseResult } from "./drive.ts";

/** Per-second series of one phase: accepted and visible metrics/s, and the median lag of that second's batches. */
export interface Series {
  phase: string;
  offsetS: number;
  acceptedPerS: number[];
  visiblePerS: number[];
  lagMedianMs: (number | null)[];
}

/** Turns a phase's timelines into per-second series (metrics/s = batches × metricsPerBatch). */
export function seriesOf(p: PhaseResult, offsetS: number, metricsPerBatch: number): Series {
  const end = Math.ceil(Math.max(p.acceptedAtMs.at(-1) ?? 0, p.visibleSamples.at(-1)?.[0] ?? 0) / 1000) + 1;
  const acceptedPerS = new Array<number>(end).fill(0);
  for (const at of p.acceptedAtMs)
    acceptedPerS[Math.floor(at / 1000)] = (acceptedPerS[Math.floor(at / 1000)] ?? 0) + metricsPerBatch;
  // Visible per second from the cumulative samples: the last sample in each second minus the previous second's.
  const cumulative = new Array<number>(end).fill(0);
  let last = 0;
  let s = 0;
  for (let sec = 0; sec < end; sec++) {
    while (s < p.visibleSamples.length && (p.visibleSamples[s] as [number, number])[0] < (sec + 1) * 1000) {
      last = Math.max(last, (p.visibleSamples[s] as [number, number])[1]);
      s++;
    }
    cumulative[sec] = last;
  }
  const visiblePerS = cumulative.map(
    (c, i) => (c - (i > 0 ? (cumulative[i - 1] as number) : 0)) * metricsPerBatch,
  );
  const lags = lagsMs(p);
  const bySecond: number[][] = Array.from({ length: end }, () => []);
  p.acceptedAtMs.forEach((at, k) => {
    const lag = lags[k];
    if (lag !== undefined) bySecond[Math.floor(at / 1000)]?.push(lag);
  });
  const lagMedianMs = bySecond.map((l) =>
    l.length ? (l.sort((a, b) => a - b)[Math.floor(l.length / 2)] as number) : null,
  );
  return { phase: p.name, offsetS, acceptedPerS, visiblePerS, lagMedianMs };
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

/** An SVG chart (no browser needed): throughput on top, accept → visible lag below, phases side by side. */
export function renderChart(series: Series[], title: string): string {
  const W = 960;
  const H = 560;
  const left = 80;
  const right = 20;
  const panels = [
    { top: 50, height: 250, label: "metrics/s" },
    { top: 360, height: 150, label: "lag p50, ms" },
  ];
  const totalS = Math.max(1, ...series.map((s) => s.offsetS + s.acceptedPerS.length));
  const x = (sec: number) => left + (sec / totalS) * (W - left - right);
  const maxRate = Math.max(1, ...series.flatMap((s) => [...s.acceptedPerS, ...s.visiblePerS]));
  const maxLag = Math.max(1, ...series.flatMap((s) => s.lagMedianMs.filter((v): v is number => v !== null)));
  const y = (panel: (typeof panels)[number], v: number, max: number) =>
    panel.top + panel.height - (v / max) * panel.height;
  const line = (points: [number, number][], color: string) =>
    points.length
      ? `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${points.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" ")}"/>`
      : "";
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="24" font-size="15">${esc(title)}</text>`,
  ];
  for (const [i, panel] of panels.entries()) {
    const max = i === 0 ? maxRate : maxLag;
    parts.push(
      `<rect x="${left}" y="${panel.top}" width="${W - left - right}" height="${panel.height}" fill="none" stroke="#999"/>`,
    );
    parts.push(`<text x="10" y="${panel.top + panel.height / 2}">${panel.label}</text>`);
    for (const f of [0, 0.5, 1]) {
      parts.push(
        `<text x="${left - 6}" y="${y(panel, f * max, max) + 4}" text-anchor="end">${Math.round(f * max)}</text>`,
      );
    }
  }
  for (const s of series) {
    const p0 = panels[0] as (typeof panels)[number];
    const p1 = panels[1] as (typeof panels)[number];
    parts.push(
      `<line x1="${x(s.offsetS)}" y1="${p0.top}" x2="${x(s.offsetS)}" y2="${p1.top + p1.height}" stroke="#ccc" stroke-dasharray="4"/>`,
    );
    parts.push(`<text x="${x(s.offsetS) + 4}" y="${p0.top + 14}">${esc(s.phase)}</text>`);
    parts.push(
      line(
        s.acceptedPerS.map((v, i) => [x(s.offsetS + i + 0.5), y(p0, v, maxRate)]),
        "#1f77b4",
      ),
    );
    parts.push(
      line(
        s.visiblePerS.map((v, i) => [x(s.offsetS + i + 0.5), y(p0, v, maxRate)]),
        "#d62728",
      ),
    );
    const lagPts = s.lagMedianMs.flatMap((v, i): [number, number][] =>
      v === null ? [] : [[x(s.offsetS + i + 0.5), y(p1, v, maxLag)]],
    );
    parts.push(line(lagPts, "#2ca02c"));
  }
  parts.push(
    `<text x="${left}" y="${H - 20}">seconds → · <tspan fill="#1f77b4">accepted by ingest</tspan> · <tspan fill="#d62728">visible in ClickHouse</tspan> · <tspan fill="#2ca02c">accept → visible lag (median per second)</tspan></text>`,
  );
  parts.push("</svg>");
  return parts.join("\n");
}
