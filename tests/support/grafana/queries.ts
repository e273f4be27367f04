/**
 * The Heartbeat Monitor dashboard's SQL as Grafana runs it: every panel target, annotation query
 * and query variable of grafana/dashboards/heartbeat-monitor.json, with the interval Grafana would
 * give it, expanded by {@link expandMacros}. Shared by tests/dashboard_queries_test.ts (which runs
 * each one against a database the pipeline filled) and bench/dashboard.ts (which times them).
 *
 * Requires `--allow-read` of the dashboard file.
 *
 * @module
 */
import type { Transformation } from "./frames.ts";
import { expandMacros, panelInterval, type TemplateVariable } from "./macros.ts";

/** The dashboard file. */
export const DASHBOARD_URL: URL = new URL("../../../grafana/dashboards/heartbeat-monitor.json", import.meta.url);

/** A query as the dashboard JSON stores it (panel targets and annotation targets). */
export interface Target {
  /** The query's id within its panel. */
  refId?: string;
  /** The SQL, with Grafana macros and variables. */
  rawSql?: string;
  /** `time_series` or `table`. */
  format?: string;
}

/** A field-config override: properties for the fields a matcher selects. */
export interface Override {
  /** `byName` (its options: a field's display name), `byRegexp`, ... */
  matcher: { id: string; options?: unknown };
  /** The properties it sets: `displayName`, `custom.cellOptions`, `unit`, ... */
  properties: { id: string; value?: unknown }[];
}

/** A panel of the dashboard JSON, as far as queries and their frames go. */
export interface Panel {
  /** Unique id. */
  id: number;
  /** Visualization: `timeseries`, `stat`, `table`, `state-timeline`, ... */
  type: string;
  /** Title. */
  title: string;
  /** Position on the 24-column grid. */
  gridPos: { x: number; y: number; w: number; h: number };
  /** Minimum interval (`1s`), when set. */
  interval?: string;
  /** Data points asked for, when set (else the panel's width in pixels). */
  maxDataPoints?: number;
  /** Queries. */
  targets?: Target[];
  /** What Grafana does to the query results before drawing them, in order (grafana/frames.ts). */
  transformations?: Transformation[];
  /** Field defaults and overrides. */
  fieldConfig?: { overrides?: Override[] };
  /** Visualization options (tables: `sortBy` by display name). */
  options?: { sortBy?: { displayName: string; desc?: boolean }[] };
}

/** An annotation query of the dashboard JSON. */
export interface Annotation {
  /** Name shown in the dashboard's annotation toggles. */
  name: string;
  /** Grafana's built-in annotation list has this set. */
  builtIn?: number;
  /** Its SQL (SQL datasources keep it in `target`). */
  target?: Target;
}

/** A template variable of the dashboard JSON. */
export interface Variable {
  /** Name (`customer` is used as `$customer`). */
  name: string;
  /** `query` for SQL-backed variables. */
  type: string;
  /** Its SQL. */
  query?: unknown;
  /** Several values may be selected. */
  multi?: boolean;
  /** Has an "All" option. */
  includeAll?: boolean;
}

/** The dashboard JSON, as far as queries go. */
export interface Dashboard {
  /** Panels. */
  panels: Panel[];
  /** Annotation queries. */
  annotations?: { list: Annotation[] };
  /** Template variables. */
  templating?: { list: Variable[] };
}

/** One query Grafana sends to PostgreSQL for the dashboard. */
export interface DashboardQuery {
  /** What it is, for messages: `panel 6 "Heart rate by customer" A`, `variable $customer`, ... */
  name: string;
  /** Where the query lives. */
  source: "panel" | "annotation" | "variable";
  /** The panel's type (`timeseries`, `stat`, ...); `annotation` or `variable` for the others. */
  visualization: string;
  /** `time_series` or `table` (annotations and variables are tables). */
  format: "time_series" | "table";
  /** The SQL with macros and variables. */
  rawSql: string;
  /** Data points Grafana asks for (the panel's `maxDataPoints`, else its width in pixels). */
  maxDataPoints: number;
  /** The lower limit of `$__interval`: the panel's `interval`, else the SQL datasource's `1m`. */
  minInterval: string;
  /** The panel's id (panel targets only). */
  panelId?: number;
  /** The target's refId (panel targets only). */
  refId?: string;
}

/** A SQL datasource's default minimum interval (`timeInterval` is not set in the provisioning). */
export const DATASOURCE_MIN_INTERVAL = "1m";

/** Reads and parses the dashboard JSON. */
export async function loadDashboard(url: URL = DASHBOARD_URL): Promise<Dashboard> {
  return JSON.parse(await Deno.readTextFile(url)) as Dashboard;
}

/**
 * Lists every query of the dashboard: the query variables first (the panels need their values),
 * then each panel target, then each annotation query. Panel widths are taken on a screen
 * `screenWidthPx` wide, as Grafana sizes `maxDataPoints` by the panel's width in pixels.
 */
export function dashboardQueries(dashboard: Dashboard, screenWidthPx = 1920): DashboardQuery[] {
  const queries: DashboardQuery[] = [];
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== "query") continue;
    const query = variable.query;
    const rawSql = typeof query === "string" ? query : String((query as { rawSql?: unknown } | null)?.rawSql ?? "");
    queries.push({
      name: `variable $${variable.name}`,
      source: "variable",
      visualization: "variable",
      format: "table",
      rawSql,
      maxDataPoints: screenWidthPx,
      minInterval: DATASOURCE_MIN_INTERVAL,
    });
  }
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      queries.push({
        name: `panel ${panel.id} "${panel.title}" ${target.refId ?? "A"}`,
        source: "panel",
        visualization: panel.type,
        format: target.format === "table" ? "table" : "time_series",
        rawSql: target.rawSql ?? "",
        maxDataPoints: panel.maxDataPoints ?? Math.round(panel.gridPos.w / 24 * screenWidthPx),
        minInterval: panel.interval ?? DATASOURCE_MIN_INTERVAL,
        panelId: panel.id,
        refId: target.refId ?? "A",
      });
    }
  }
  for (const annotation of dashboard.annotations?.list ?? []) {
    if (annotation.builtIn || annotation.target?.rawSql === undefined) continue;
    queries.push({
      name: `annotation "${annotation.name}"`,
      source: "annotation",
      visualization: "annotation",
      format: "table",
      rawSql: annotation.target.rawSql,
      maxDataPoints: screenWidthPx,
      minInterval: DATASOURCE_MIN_INTERVAL,
    });
  }
  return queries;
}

/** The SQL PostgreSQL receives for a query over a time range, and the interval it was given. */
export function expandQuery(
  query: DashboardQuery,
  range: { from: Date | number; to: Date | number },
  vars: Readonly<Record<string, TemplateVariable | string | number | readonly string[]>> = {},
): { sql: string; intervalMs: number } {
  const { intervalMs } = panelInterval({
    ...range,
    maxDataPoints: query.maxDataPoints,
    minInterval: query.minInterval,
  });
  return { sql: expandMacros(query.rawSql, { ...range, intervalMs, vars }), intervalMs };
}
