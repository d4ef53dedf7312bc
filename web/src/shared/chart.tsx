import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

const COLORS = ["#2f5bd3", "#d36b2f", "#1f7a3a", "#8a2fd3", "#b3261e", "#2fa8d3"];

/** A uPlot time-series chart: x = unix seconds, one line per series. data-points tells tests what it drew. */
export function TimeChart(props: {
  title: string;
  days: number[];
  series: { label: string; values: number[] }[];
  testId: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const points = props.series.reduce((n, s) => n + s.values.filter((v) => v > 0).length, 0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const width = Math.max(320, el.clientWidth || 520);
    const plot = new uPlot(
      {
        width,
        height: 220,
        series: [
          {},
          ...props.series.map((s, i) => ({
            label: s.label,
            stroke: COLORS[i % COLORS.length],
            width: 2,
          })),
        ],
        axes: [{}, { size: 50 }],
      },
      [props.days, ...props.series.map((s) => s.values)],
      el,
    );
    return () => plot.destroy();
  }, [props.days, props.series]);
  return (
    <figure className="panel chart" data-testid={props.testId} data-points={points} style={{ margin: 0 }}>
      <figcaption>
        <h3>{props.title}</h3>
      </figcaption>
      <div ref={ref} role="img" aria-label={`${props.title}: ${points} data points`} />
    </figure>
  );
}
