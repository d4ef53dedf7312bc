import type * as common from "@grafana/grafana-foundation-sdk/common";

/**
 * The three datasources the boards use, with fixed uids so dashboards and alert rules can name them, and
 * their provisioning entries. Passwords are never written here: Grafana expands `$VAR` in provisioning
 * files from its own environment at start (see grafana/README.md).
 */
export const DATASOURCES = {
  /** The official ClickHouse plugin (grafana-clickhouse-datasource, 4.x) over HTTP as the read-only `grafana` user. */
  clickhouse: { type: "grafana-clickhouse-datasource", uid: "smstats-clickhouse" },
  /** Grafana's core PostgreSQL datasource, licensing database. */
  postgres: { type: "grafana-postgresql-datasource", uid: "smstats-postgres" },
  /** Prometheus scraping every process's /metrics (and the NATS exporter). */
  prometheus: { type: "prometheus", uid: "smstats-prometheus" },
} as const satisfies Record<string, common.DataSourceRef>;

/** Which datasource a query goes to. */
export type DatasourceKind = keyof typeof DATASOURCES;

/** The datasource reference a panel or query carries. */
export function dsRef(kind: DatasourceKind): common.DataSourceRef {
  return { ...DATASOURCES[kind] };
}

/** A reference Grafana replaces with its own environment variable when it reads the file. */
const env = (name: string) => `$${"{"}${name}}`;

/** Grafana's datasource provisioning file (provisioning/datasources/smstats.yaml). */
export function datasourceProvisioning() {
  return {
    apiVersion: 1,
    datasources: [
      {
        name: "SongMartyn ClickHouse",
        type: DATASOURCES.clickhouse.type,
        uid: DATASOURCES.clickhouse.uid,
        access: "proxy",
        isDefault: true,
        editable: false,
        jsonData: {
          host: env("GRAFANA_SMSTATS_CLICKHOUSE_HOST"),
          // A number: the plugin reads the port as one (the local stack's HTTP port; change it for yours).
          port: 27123,
          protocol: "http",
          secure: false,
          username: "grafana",
          defaultDatabase: "smstats",
        },
        secureJsonData: { password: env("GRAFANA_SMSTATS_CLICKHOUSE_PASSWORD") },
      },
      {
        name: "SongMartyn licensing (PostgreSQL)",
        type: DATASOURCES.postgres.type,
        uid: DATASOURCES.postgres.uid,
        access: "proxy",
        editable: false,
        url: env("GRAFANA_SMSTATS_POSTGRES_HOST"),
        user: env("GRAFANA_SMSTATS_POSTGRES_USER"),
        jsonData: {
          database: "smstats",
          sslmode: "disable",
          postgresVersion: 1500,
          timescaledb: false,
        },
        secureJsonData: { password: env("GRAFANA_SMSTATS_POSTGRES_PASSWORD") },
      },
      {
        name: "SongMartyn Prometheus",
        type: DATASOURCES.prometheus.type,
        uid: DATASOURCES.prometheus.uid,
        access: "proxy",
        editable: false,
        url: env("GRAFANA_SMSTATS_PROMETHEUS_URL"),
        jsonData: { timeInterval: "15s", httpMethod: "POST" },
      },
    ],
  };
}
