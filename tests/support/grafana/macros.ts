/**
 * Grafana's PostgreSQL query macros and template variables, expanded the way Grafana 12 expands
 * them before a panel query reaches PostgreSQL, so that the dashboard's SQL can be run and timed
 * without a Grafana server (tests/dashboard_queries_test.ts, bench/dashboard.ts).
 *
 * Grafana expands a panel query in three passes, and {@link expandMacros} does the same, in order:
 *
 * 1. **Frontend, template variables** (`templateSrv.replace` with the SQL datasource's
 *    `interpolateVariable`): `$name`, `${name}` and `[[name]]` of dashboard variables, and the
 *    built-ins `$__interval`, `$__interval_ms`, `$__from` and `$__to`. A multi-value (or include-All)
 *    variable becomes a list of quoted literals, `'a','b'`, each `'` doubled; a single-value
 *    variable is inserted with `'` doubled and no quotes; a number as is. Unknown names are left.
 * 2. **Backend, global substitutions** (`sqleng.Interpolate`): `$__interval_ms`, `$__interval`,
 *    `$__unixEpochFrom()`, `$__unixEpochTo()`.
 * 3. **Backend, PostgreSQL macro engine** (`pkg/tsdb/grafana-postgresql-datasource/macros.go`):
 *    every `$__name(args)`, with Grafana's exact output:
 *
 * | macro                                      | expands to                                                        |
 * | ------------------------------------------ | ----------------------------------------------------------------- |
 * | `$__time(c)`                               | `c AS "time"`                                                     |
 * | `$__timeEpoch(c)`                          | `extract(epoch from c) as "time"`                                 |
 * | `$__timeFilter(c)`                         | `c BETWEEN '<from>' AND '<to>'` (RFC 3339, UTC, Go's trimmed nanos) |
 * | `$__timeFrom()`, `$__timeTo()`             | `'<from>'`, `'<to>'`                                              |
 * | `$__timeGroup(c, 5m[, fill])`              | `floor(extract(epoch from c)/300)*300`; followed by `,` it also gets `AS "time"` (Grafana's pre-5.3 rule) |
 * | `$__timeGroupAlias(c, 5m[, fill])`         | the same `AS "time"`                                              |
 * | `$__unixEpochFilter(c)`                    | `c >= <from s> AND c <= <to s>`                                   |
 * | `$__unixEpochNanoFilter(c)`                | `c >= <from ns> AND c <= <to ns>`                                 |
 * | `$__unixEpochNanoFrom()`, `…NanoTo()`      | `<from ns>`, `<to ns>`                                            |
 * | `$__unixEpochGroup(c, 5m[, fill])`         | `floor((c)/300)*300` (`…Alias` adds `AS "time"`)                  |
 *
 * The fill argument of the group macros (`NULL`, `previous` or a number) changes no SQL: Grafana
 * resamples the result frame afterwards. It is validated (Grafana rejects other values) and
 * otherwise ignored. Numbers print as Go's `%v` does (`1.0368e+06` for 12 days). Not supported:
 * TimescaleDB's `time_bucket` form, intervals in months or years (Grafana measures them from the
 * current date), variable format suffixes (`${var:csv}`), and the SQL-comment stripping of recent
 * Grafana versions (dashboard queries must hold no comments; tests/dashboard_queries_test.ts checks).
 *
 * The time column `$__timeGroupAlias` makes is a number (epoch seconds), not a timestamp: Grafana
 * converts a numeric column named `time` to a time field itself.
 *
 * @module
 */

/** A dashboard template variable's current value, as Grafana's SQL datasource interpolates it. */
export interface TemplateVariable {
  /** The selected value(s). An array is always a multi-value selection. */
  value: string | number | readonly string[];
  /** The variable allows several values (its strings are then quoted). */
  multi?: boolean;
  /** The variable has an "All" option (its strings are then quoted). */
  includeAll?: boolean;
}

/** What {@link expandMacros} needs: the panel's time range, its interval and the variables. */
export interface ExpandOptions {
  /** Start of the time range (a Date or epoch ms). */
  from: Date | number;
  /** End of the time range (a Date or epoch ms). */
  to: Date | number;
  /** The panel's `$__interval` in ms, e.g. from {@link panelInterval}. */
  intervalMs: number;
  /**
   * Template variables by name. A bare array is a multi-value selection (`'a','b'`), a bare
   * string a single value (inserted unquoted, `'` doubled), a number is inserted as is.
   */
  vars?: Readonly<Record<string, TemplateVariable | string | number | readonly string[]>>;
}

const toMs = (t: Date | number): number => typeof t === "number" ? t : t.getTime();

/**
 * Formats an instant as Go's `time.RFC3339Nano` in UTC does: fractional seconds without trailing
 * zeros, and none at all when zero.
 *
 * @example
 * ```ts
 * import { rfc3339Nano } from "./macros.ts";
 * rfc3339Nano(Date.UTC(2018, 3, 12, 18, 0, 0)); // "2018-04-12T18:00:00Z"
 * rfc3339Nano(Date.UTC(2018, 3, 12, 18, 0, 0, 500)); // "2018-04-12T18:00:00.5Z"
 * ```
 */
export function rfc3339Nano(t: Date | number): string {
  const iso = new Date(toMs(t)).toISOString(); // 2018-04-12T18:00:00.500Z
  return iso.replace(/\.(\d{3})Z$/, (_, frac: string) => {
    const trimmed = frac.replace(/0+$/, "");
    return trimmed === "" ? "Z" : `.${trimmed}Z`;
  });
}

/**
 * Formats a number as Go's `fmt` verb `%v` does for a float64: the shortest representation,
 * in exponent form when the exponent is below -4 or at least 6.
 *
 * @example
 * ```ts
 * import { goFloat } from "./macros.ts";
 * goFloat(300); // "300"
 * goFloat(0.5); // "0.5"
 * goFloat(1036800); // "1.0368e+06"
 * ```
 */
export function goFloat(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError(`Cannot format ${v} as a Go float: it must be finite`);
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const [mantissa = "", expText = "0"] = v.toExponential().split("e"); // shortest round-trip digits
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    const sign = exp < 0 ? "-" : "+";
    return `${mantissa}e${sign}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  return String(v); // JavaScript prints plain decimals in this exponent range, as Go does
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses an interval as Grafana's `gtime.ParseInterval`: `<n>d` and `<n>w` (whole days and weeks)
 * or a Go duration (`500ms`, `1s`, `1m30s`, `2h`). Months and years are refused: Grafana measures
 * them from today's date.
 *
 * @returns the interval in milliseconds
 * @throws {RangeError} when the text is not such an interval
 */
export function parseInterval(text: string): number {
  const days = /^(\d+)([dwMy])$/.exec(text);
  if (days !== null) {
    const n = Number(days[1]);
    if (days[2] === "d") return n * 86_400_000;
    if (days[2] === "w") return n * 7 * 86_400_000;
    throw new RangeError(
      `Cannot parse the interval '${text}': months and years depend on the current date and are not supported`,
    );
  }
  if (text === "0") return 0;
  const match = /^([-+]?)((?:\d*\.?\d+(?:ns|us|µs|μs|ms|s|m|h))+)$/.exec(text);
  if (match === null) throw new RangeError(`Cannot parse the interval '${text}': it is not a Go duration or <n>d/<n>w`);
  let ms = 0;
  for (const part of (match[2] ?? "").matchAll(/(\d*\.?\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    ms += Number(part[1]) * (DURATION_UNITS_MS[part[2] ?? ""] ?? NaN);
  }
  return match[1] === "-" ? -ms : ms;
}

/**
 * Formats an interval as Grafana's frontend formats `$__interval` (`rangeutil.secondsToHms`):
 * the largest whole unit only, e.g. `1s`, `2m`, `500ms`, `1d`.
 */
export function secondsToHms(seconds: number): string {
  const years = Math.floor(seconds / 31_536_000);
  if (years) return `${years}y`;
  const days = Math.floor((seconds % 31_536_000) / 86_400);
  if (days) return `${days}d`;
  const hours = Math.floor(((seconds % 31_536_000) % 86_400) / 3_600);
  if (hours) return `${hours}h`;
  const minutes = Math.floor((((seconds % 31_536_000) % 86_400) % 3_600) / 60);
  if (minutes) return `${minutes}m`;
  const secs = Math.floor((((seconds % 31_536_000) % 86_400) % 3_600) % 60);
  if (secs) return `${secs}s`;
  const ms = Math.floor(seconds * 1000);
  if (ms) return `${ms}ms`;
  return "less than a millisecond";
}

const ROUNDED_INTERVALS_MS: readonly (readonly [below: number, interval: number])[] = [
  [10, 1],
  [15, 10],
  [35, 20],
  [75, 50],
  [150, 100],
  [350, 200],
  [750, 500],
  [1_500, 1_000],
  [3_500, 2_000],
  [7_500, 5_000],
  [12_500, 10_000],
  [17_500, 15_000],
  [25_000, 20_000],
  [45_000, 30_000],
  [90_000, 60_000],
  [210_000, 120_000],
  [450_000, 300_000],
  [750_000, 600_000],
  [1_050_000, 900_000],
  [1_500_000, 1_200_000],
  [2_700_000, 1_800_000],
  [5_400_000, 3_600_000],
  [9_000_000, 7_200_000],
  [16_200_000, 10_800_000],
  [32_400_000, 21_600_000],
  [86_400_000, 43_200_000],
  [604_800_000, 86_400_000],
  [1_814_400_000, 604_800_000],
  [3_628_800_000, 2_592_000_000],
];

/** Rounds a raw interval to Grafana's next "nice" one (`rangeutil.roundInterval`), in ms. */
export function roundInterval(ms: number): number {
  for (const [below, interval] of ROUNDED_INTERVALS_MS) if (ms < below) return interval;
  return 31_536_000_000;
}

/** A panel's interval: what `$__interval` and `$__interval_ms` become. */
export interface PanelInterval {
  /** In milliseconds (`$__interval_ms`). */
  intervalMs: number;
  /** As text (`$__interval`), e.g. `1s`. */
  interval: string;
}

/**
 * The interval Grafana gives a panel query (`rangeutil.calculateInterval`): the time range divided
 * by the panel's data points (its `maxDataPoints`, else its width in pixels), rounded to a nice
 * interval, and no shorter than the panel's minimum interval (its `interval` option, else the
 * datasource's, `1m` for SQL datasources without `timeInterval`).
 *
 * @example
 * ```ts
 * import { panelInterval } from "./macros.ts";
 * panelInterval({ from: 0, to: 15 * 60_000, maxDataPoints: 1100, minInterval: "1s" }); // { intervalMs: 1000, interval: "1s" }
 * ```
 */
export function panelInterval(
  options: { from: Date | number; to: Date | number; maxDataPoints: number; minInterval?: string },
): PanelInterval {
  const lowLimitMs = options.minInterval === undefined ? 1 : grafanaIntervalToMs(options.minInterval);
  let intervalMs = roundInterval((toMs(options.to) - toMs(options.from)) / options.maxDataPoints);
  if (lowLimitMs > intervalMs) intervalMs = lowLimitMs;
  return { intervalMs, interval: secondsToHms(intervalMs / 1000) };
}

const FRONTEND_UNITS_S: Readonly<Record<string, number>> = {
  y: 31_536_000,
  M: 2_592_000,
  w: 604_800,
  d: 86_400,
  h: 3_600,
  m: 60,
  s: 1,
  ms: 0.001,
};

/** Grafana frontend's `rangeutil.intervalToMs`: `10s`, `1m`, a bare number of seconds. */
function grafanaIntervalToMs(text: string): number {
  if (Number(text)) return Number.parseInt(text, 10) * 1000;
  const match = /^(-?\d+(?:\.\d+)?)(ms|[Mwdhmsy])/.exec(text);
  if (match === null) throw new RangeError(`Cannot use '${text}' as a minimum interval: it is not like 10s or 1m`);
  return (FRONTEND_UNITS_S[match[2] ?? ""] ?? NaN) * 1000 * Number.parseInt(match[1] ?? "", 10);
}

const quoteLiteral = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** The SQL datasource's `interpolateVariable`. */
function interpolateVariable(variable: TemplateVariable): string {
  const { value } = variable;
  if (typeof value === "string") {
    return variable.multi || variable.includeAll ? quoteLiteral(value) : value.replaceAll("'", "''");
  }
  if (typeof value === "number") return String(value);
  return value.map(quoteLiteral).join(",");
}

const asVariable = (v: TemplateVariable | string | number | readonly string[]): TemplateVariable =>
  typeof v === "object" && !Array.isArray(v)
    ? (v as TemplateVariable)
    : { value: v as string | number | readonly string[], multi: Array.isArray(v) };

/** Grafana's `templateSrv` variable syntaxes: `$name`, `[[name]]`, `${name}` (with an optional `:format`). */
const VARIABLE = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;

/** Grafana's PostgreSQL macro call: `$name(args)`, args up to the first `)`. */
const MACRO = /\$([_a-zA-Z0-9]+)\(([^)]*)\)/g;

/**
 * Expands a panel's SQL as Grafana does before sending it to PostgreSQL: template variables and
 * `$__interval`/`$__interval_ms`/`$__from`/`$__to`, then `$__unixEpochFrom()`/`$__unixEpochTo()`,
 * then the PostgreSQL macros (see the module documentation for the list and their output).
 *
 * @example
 * ```ts
 * import { expandMacros } from "./macros.ts";
 * const from = Date.UTC(2018, 3, 12, 18, 0, 0);
 * expandMacros("SELECT $__timeGroupAlias(t, $__interval), count(*) FROM x WHERE $__timeFilter(t) AND c IN ($c) GROUP BY 1", {
 *   from,
 *   to: from + 300_000,
 *   intervalMs: 1000,
 *   vars: { c: ["a", "b"] },
 * });
 * // SELECT floor(extract(epoch from t)/1)*1 AS "time", count(*) FROM x
 * // WHERE t BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z' AND c IN ('a','b') GROUP BY 1
 * ```
 * @throws {RangeError} for an unknown macro, a missing macro argument, or a bad interval or fill value (Grafana's errors)
 */
export function expandMacros(sql: string, options: ExpandOptions): string {
  const from = toMs(options.from), to = toMs(options.to);
  if (!(Number.isFinite(from) && Number.isFinite(to))) {
    throw new RangeError(
      `Cannot expand macros: the time range ${options.from}..${options.to} is not a pair of instants`,
    );
  }
  const intervalMs = options.intervalMs;
  const builtins: Record<string, TemplateVariable> = {
    __interval: { value: secondsToHms(intervalMs / 1000) },
    __interval_ms: { value: intervalMs },
    __from: { value: from },
    __to: { value: to },
  };
  const vars: Record<string, TemplateVariable> = { ...builtins };
  for (const [name, v] of Object.entries(options.vars ?? {})) vars[name] = asVariable(v);

  // 1. the frontend's template variables
  let out = sql.replace(
    VARIABLE,
    (
      match,
      plain?: string,
      bracket?: string,
      bracketFormat?: string,
      braced?: string,
      fieldPath?: string,
      bracedFormat?: string,
    ) => {
      const name = plain ?? bracket ?? braced ?? "";
      const variable = vars[name];
      if (variable === undefined) return match;
      const format = bracketFormat ?? bracedFormat;
      if (format !== undefined || fieldPath !== undefined) {
        throw new RangeError(`Cannot expand '${match}': variable formats and field paths are not supported`);
      }
      return interpolateVariable(variable);
    },
  );

  // 2. the backend's global substitutions
  out = out
    .replaceAll("$__interval_ms", String(Math.trunc(intervalMs)))
    .replaceAll("$__interval", secondsToHms(intervalMs / 1000))
    .replaceAll("$__unixEpochFrom()", String(Math.floor(from / 1000)))
    .replaceAll("$__unixEpochTo()", String(Math.floor(to / 1000)));

  // 3. the PostgreSQL macro engine
  const original = out;
  return out.replace(MACRO, (match: string, name: string, argText: string) => {
    let macro = name;
    if (macro === "__timeGroup") {
      // Grafana's pre-5.3 rule: `$__timeGroup(...)` directly followed by a comma gets the alias
      const at = original.indexOf(match);
      if (at >= 0 && original[at + match.length] === ",") macro = "__timeGroupAlias";
    }
    const args = argText.split(",").map((a) => a.replace(/^ +| +$/g, ""));
    return evaluateMacro(macro, args, from, to);
  });
}

function timeGroup(name: string, args: string[], expression: (column: string, seconds: string) => string): string {
  if (args.length < 2) {
    throw new RangeError(`macro ${name} needs time column and interval and optional fill value`);
  }
  let ms: number;
  try {
    ms = parseInterval((args[1] ?? "").replace(/^'+|'+$/g, ""));
  } catch (cause) {
    throw new RangeError(`error parsing interval ${args[1]}`, { cause });
  }
  if (args.length === 3) {
    const fill = args[2] ?? "";
    if (fill !== "NULL" && fill !== "previous" && !/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(fill)) {
      throw new RangeError(`error parsing fill value ${fill}`);
    }
  }
  return expression(args[0] ?? "", goFloat(ms / 1000));
}

function evaluateMacro(name: string, args: string[], from: number, to: number): string {
  const column = () => {
    // as in Grafana, where splitting "" gives one empty argument, so this only guards the type
    if (args.length === 0) throw new RangeError(`missing time column argument for macro ${name}`);
    return args[0] ?? "";
  };
  const nanos = (ms: number) => (BigInt(Math.round(ms)) * 1_000_000n).toString();
  switch (name) {
    case "__time":
      return `${column()} AS "time"`;
    case "__timeEpoch":
      return `extract(epoch from ${column()}) as "time"`;
    case "__timeFilter":
      return `${column()} BETWEEN '${rfc3339Nano(from)}' AND '${rfc3339Nano(to)}'`;
    case "__timeFrom":
      return `'${rfc3339Nano(from)}'`;
    case "__timeTo":
      return `'${rfc3339Nano(to)}'`;
    case "__timeGroup":
      return timeGroup(name, args, (c, s) => `floor(extract(epoch from ${c})/${s})*${s}`);
    case "__timeGroupAlias":
      return `${evaluateMacro("__timeGroup", args, from, to)} AS "time"`;
    case "__unixEpochFilter": {
      const c = column();
      return `${c} >= ${Math.floor(from / 1000)} AND ${c} <= ${Math.floor(to / 1000)}`;
    }
    case "__unixEpochNanoFilter": {
      const c = column();
      return `${c} >= ${nanos(from)} AND ${c} <= ${nanos(to)}`;
    }
    case "__unixEpochNanoFrom":
      return nanos(from);
    case "__unixEpochNanoTo":
      return nanos(to);
    case "__unixEpochGroup":
      return timeGroup(name, args, (c, s) => `floor((${c})/${s})*${s}`);
    case "__unixEpochGroupAlias":
      return `${evaluateMacro("__unixEpochGroup", args, from, to)} AS "time"`;
    default:
      throw new RangeError(`unknown macro "${name}"`);
  }
}
