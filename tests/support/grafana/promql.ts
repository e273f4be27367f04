/**
 * The pipeline-health dashboard's PromQL as Grafana's Prometheus datasource sends it: every panel
 * target and query variable of grafana/dashboards/heartbeat-pipeline-health.json, with
 * `$__interval`, `$__rate_interval`, `$__range` and the template variables interpolated as Grafana
 * does. tests/prometheus_test.ts runs each one on a real Prometheus that scrapes the real programs,
 * as tests/dashboard_queries_test.ts runs the Heartbeat Monitor's SQL on a real database.
 *
 * Requires `--allow-read` of the dashboard file.
 *
 * @module
 */
import { panelInterval, parseInterval } from "./macros.ts";

/** The dashboard file. */
export const HEALTH_DASHBOARD_URL: URL = new URL(
  "../../../grafana/dashboards/heartbeat-pipeline-health.json",
  import.meta.url,
);

/** A datasource reference. */
export interface DatasourceRef {
  /** `prometheus`. */
  type?: string;
  /** `heartbeat-prometheus`. */
  uid?: string;
}

/** A Prometheus target of a panel. */
export interface PromTarget {
  /** The query's id within its panel. */
  refId?: string;
  /** Its datasource. */
  datasource?: DatasourceRef;
  /** PromQL with Grafana variables. */
  expr?: string;
  /** Series name template (`{{partition}}`). */
  legendFormat?: string;
}

/** A panel, as far as its queries go. */
export interface PromPanel {
  /** Unique id. */
  id: number;
  /** Visualization. */
  type: string;
  /** Title. */
  title: string;
  /** Position on the 24-column grid. */
  gridPos: { x: number; y: number; w: number; h: number };
  /** Its datasource. */
  datasource?: DatasourceRef;
  /** Minimum interval, when set. */
  interval?: string;
  /** Data points asked for, when set (else the panel's width in pixels). */
  maxDataPoints?: number;
  /** Queries. */
  targets?: PromTarget[];
}

/** A template variable. */
export interface PromVariable {
  /** Name (`instance` is used as `$instance`). */
  name: string;
  /** `query` for datasource-backed variables. */
  type: string;
  /** Its datasource. */
  datasource?: DatasourceRef;
  /** Its query: `label_values(selector, label)`. */
  query?: string | { query?: string };
  /** Several values may be selected. */
  multi?: boolean;
  /** Has an "All" option. */
  includeAll?: boolean;
  /** What "All" stands for (`.*`). */
  allValue?: string;
}

/** A dashboard link. */
export interface DashboardLink {
  /** Shown text. */
  title: string;
  /** `link` (a URL) or `dashboards` (by tag). */
  type: string;
  /** Where it goes. */
  url?: string;
  /** Carries the time range along. */
  keepTime?: boolean;
}

/** The dashboard JSON, as far as queries go. */
export interface PromDashboard {
  /** Its uid: `/d/<uid>`. */
  uid: string;
  /** Its title. */
  title: string;
  /** Panels. */
  panels: PromPanel[];
  /** Template variables. */
  templating?: { list: PromVariable[] };
  /** Links to other dashboards. */
  links?: DashboardLink[];
}

/** One PromQL query of the dashboard. */
export interface PromQuery {
  /** What it is, for messages: `panel 9 "Consumer lag per partition" A`. */
  name: string;
  /** The panel's id. */
  panelId: number;
  /** The panel's type. */
  visualization: string;
  /** PromQL with Grafana's variables. */
  expr: string;
  /** Data points Grafana asks for (the panel's `maxDataPoints`, else its width in pixels). */
  maxDataPoints: number;
  /** The panel's minimum interval, when set. */
  minInterval?: string;
}

/** Reads and parses the dashboard JSON. */
export async function loadHealthDashboard(url: URL = HEALTH_DASHBOARD_URL): Promise<PromDashboard> {
  return JSON.parse(await Deno.readTextFile(url)) as PromDashboard;
}

/** Every panel target of the dashboard, on a screen `screenWidthPx` wide. */
export function promQueries(dashboard: PromDashboard, screenWidthPx = 1920): PromQuery[] {
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      name: `panel ${panel.id} "${panel.title}" ${target.refId ?? "A"}`,
      panelId: panel.id,
      visualization: panel.type,
      expr: target.expr ?? "",
      maxDataPoints: panel.maxDataPoints ?? Math.round(panel.gridPos.w / 24 * screenWidthPx),
      ...(panel.interval === undefined ? {} : { minInterval: panel.interval }),
    }))
  );
}

/** A query variable's `label_values(selector, label)`, split; null for another kind of query. */
export function labelValuesQuery(variable: PromVariable): { selector: string; label: string } | null {
  const text = typeof variable.query === "string" ? variable.query : variable.query?.query ?? "";
  const match = /^label_values\((.+),\s*(\w+)\)$/.exec(text.trim());
  return match === null ? null : { selector: match[1]!, label: match[2]! };
}

/** A duration in Prometheus' syntax: whole seconds, else milliseconds. */
const promDuration = (ms: number) => ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;

/** Grafana's `prometheusSpecialRegexEscape`: regex metacharacters escaped, inside a PromQL string. */
function regexEscape(value: string): string {
  return value.replace(/\\/g, "\\\\\\\\").replace(/[$^*{}[\]'+?.()|]/g, "\\\\$&");
}

/** What a template variable is set to: its selected values, or All. */
export type PromVariableValue = { all: true } | { values: readonly string[] };

/** Options of {@link expandPromQL}. */
export interface PromExpandOptions {
  /** The dashboard's time range, epoch ms. */
  from: number;
  /** The dashboard's time range, epoch ms. */
  to: number;
  /** The datasource's scrape interval (`timeInterval`), e.g. `5s`: the least `$__interval`. */
  scrapeInterval: string;
  /** The variables' definitions. */
  variables?: readonly PromVariable[];
  /** Their values. */
  values?: Readonly<Record<string, PromVariableValue>>;
}

/**
 * The PromQL Grafana sends for a query, and the step of its range query: `$__interval` from the
 * range and the panel's data points (at least the scrape interval), `$__rate_interval` =
 * max(`$__interval` + scrape interval, 4 × scrape interval), `$__range` in seconds, and each
 * variable as Grafana's Prometheus datasource formats it (a multi-value or All variable as a
 * regex alternation of escaped values, or its `allValue`). A variable left over is an error.
 */
export function expandPromQL(query: PromQuery, options: PromExpandOptions): { expr: string; stepMs: number } {
  const { intervalMs } = panelInterval({
    from: options.from,
    to: options.to,
    maxDataPoints: query.maxDataPoints,
    minInterval: query.minInterval ?? options.scrapeInterval,
  });
  const scrapeMs = parseInterval(options.scrapeInterval);
  const rateMs = Math.max(intervalMs + scrapeMs, 4 * scrapeMs);
  const rangeS = Math.round((options.to - options.from) / 1000);
  let expr = query.expr
    .replaceAll("$__rate_interval", promDuration(rateMs))
    .replaceAll("$__interval_ms", String(intervalMs))
    .replaceAll("$__interval", promDuration(intervalMs))
    .replaceAll("$__range_s", String(rangeS))
    .replaceAll("$__range", `${rangeS}s`);
  for (const variable of options.variables ?? []) {
    const value = options.values?.[variable.name];
    if (value === undefined) continue;
    let text: string;
    if ("all" in value) {
      if (!variable.includeAll) throw new RangeError(`Cannot set $${variable.name} to All: it has no All option`);
      text = variable.allValue ?? "";
    } else if (variable.multi || variable.includeAll) {
      const escaped = value.values.map(regexEscape);
      text = escaped.length === 1 ? escaped[0]! : `(${escaped.join("|")})`;
    } else {
      text = (value.values[0] ?? "").replace(/\\/g, "\\\\").replace(/'/g, "\\\\'");
    }
    expr = expr.replace(new RegExp(`\\$\\{${variable.name}\\}|\\$${variable.name}\\b`, "g"), () => text);
  }
  const left = /\$\{?\w+/.exec(expr);
  if (left !== null) throw new RangeError(`Cannot expand ${query.name}: ${left[0]} is not set`);
  return { expr, stepMs: intervalMs };
}
