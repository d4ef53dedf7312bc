import { useEffect, useMemo, useState } from "react";
import type { FleetDaily, FleetOverview, PipelineHealth, Slice } from "../../../ingest/admin-stats/index.ts";
import { api, errorText } from "../shared/api.ts";
import { TimeChart } from "../shared/chart.tsx";

function SliceTable(props: { title: string; rows: Slice[] }) {
  return (
    <div className="panel">
      <h3>{props.title}</h3>
      <table>
        <thead>
          <tr>
            <th scope="col">{props.title.replace("By ", "")}</th>
            <th scope="col">Active instances (30 d)</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((r) => (
            <tr key={r.key}>
              <td>{r.key || "(unknown)"}</td>
              <td>{r.instances}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Fleet at a glance from ClickHouse's rollups, and pipeline health from the services' own figures. */
export function FleetPage(props: { grafanaUrl: string }) {
  const [overview, setOverview] = useState<FleetOverview | null>(null);
  const [daily, setDaily] = useState<FleetDaily | null>(null);
  const [pipeline, setPipeline] = useState<PipelineHealth | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    Promise.all([
      api<FleetOverview>("GET", "/v1/admin/stats/overview"),
      api<FleetDaily>("GET", "/v1/admin/stats/daily"),
      api<PipelineHealth>("GET", "/v1/admin/stats/pipeline"),
    ])
      .then(([o, d, p]) => {
        setOverview(o);
        setDaily(d);
        setPipeline(p);
      })
      .catch((e) => setError(errorText(e)));
  }, []);
  const activeSeries = useMemo(
    () => (daily ? [{ label: "active instances", values: daily.active }] : []),
    [daily],
  );
  const versionSeries = useMemo(
    () => (daily ? daily.active_by_version.map((v) => ({ label: v.app_version, values: v.values })) : []),
    [daily],
  );
  const playSeries = useMemo(() => (daily ? [{ label: "plays", values: daily.plays }] : []), [daily]);
  if (error) return <p className="error">{error}</p>;
  if (!overview || !daily || !pipeline) return <p>Loading…</p>;
  return (
    <section>
      <h2>Fleet</h2>
      {props.grafanaUrl && (
        <p>
          Deep analytics: <a href={props.grafanaUrl}>Grafana boards</a>
        </p>
      )}
      <div className="cards">
        <div className="card">
          <div className="value" data-testid="active-today">
            {overview.active.today}
          </div>
          <div className="label">active today</div>
        </div>
        <div className="card">
          <div className="value">{overview.active.last_7_days}</div>
          <div className="label">active in 7 days</div>
        </div>
        <div className="card">
          <div className="value">{overview.active.last_30_days}</div>
          <div className="label">active in 30 days</div>
        </div>
        <div className="card">
          <div className="value">{overview.plays_30_days}</div>
          <div className="label">plays in 30 days</div>
        </div>
        <div className="card">
          <div className="value">{pipeline.ingest_items_per_second ?? "—"}</div>
          <div className="label">ingest items/s</div>
        </div>
        <div className="card">
          <div className="value">{pipeline.jetstream_lag}</div>
          <div className="label">JetStream lag (messages)</div>
        </div>
        <div className="card">
          <div className="value">{pipeline.dead_letters}</div>
          <div className="label">dead letters</div>
        </div>
      </div>
      <div className="grid2">
        <TimeChart
          title="Active instances per day"
          testId="chart-active"
          days={daily.days}
          series={activeSeries}
        />
        <TimeChart
          title="Active instances by version"
          testId="chart-versions"
          days={daily.days}
          series={versionSeries}
        />
        <TimeChart title="Plays per day" testId="chart-plays" days={daily.days} series={playSeries} />
        <div className="panel">
          <h3>Errors per instance-hour by version (7 d)</h3>
          <table>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Errors</th>
                <th scope="col">Instance-hours</th>
                <th scope="col">Errors / instance-hour</th>
              </tr>
            </thead>
            <tbody>
              {overview.error_rate_by_version.map((r) => (
                <tr key={r.app_version}>
                  <td>{r.app_version}</td>
                  <td>{r.errors}</td>
                  <td>{r.instance_hours}</td>
                  <td>{r.errors_per_instance_hour}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
      <div className="grid2">
        <SliceTable title="By version" rows={overview.by_version} />
        <SliceTable title="By platform" rows={overview.by_platform} />
        <SliceTable title="By tier" rows={overview.by_tier} />
        <SliceTable title="By country" rows={overview.by_country} />
      </div>
    </section>
  );
}
