/**
 * What Grafana 12 makes of a panel's query results before the panel draws them, as far as field
 * names and types go: the data frames the PostgreSQL datasource builds from each result, and the
 * panel transformations the dashboard uses (`timeSeriesTable`, `joinByField`, `organize`). With it,
 * tests/dashboard_queries_test.ts checks the dashboard's wiring on real query results: that each
 * field override names a field the transformations produce, and that a join finds its field in
 * every frame. Grafana cannot run here, so the behaviour is taken from its source (see
 * docs/dashboard.md, "The roster's sparkline"):
 *
 * - **PostgreSQL datasource** (`pkg/tsdb/grafana-postgresql-datasource/sqleng/sql_engine.go`,
 *   `processFrame`): a result without rows is a frame without fields; a column named `time`
 *   becomes a time field (numbers are epoch seconds or ms).
 *   In `time_series` format the time field is renamed `Time`, every other column that is not text
 *   becomes a number, and a result with text columns ("long") becomes one wide frame
 *   (`data.LongToWide`): one number field per series, labelled with the text columns' names and
 *   values. Only when the result has exactly three columns and the text column is named `metric`
 *   is that label dropped and its value made the field's name (the pre-8 naming).
 * - **Time series to table** (`public/app/features/transformers/timeSeriesTable/`): per refId,
 *   every frame that is a time series (`isTimeSeriesFrame`: a time field whose first 100 values
 *   strictly ascend, and a number field) becomes one table frame: a text field per label name,
 *   then a field `Trend #<refId>` of type frame holding one series per row. Other frames pass
 *   through. The transformation's `filter` (a `byRefId` matcher, `^pattern$`) restricts it to
 *   some frames; the others are put back in their place (`transformDataFrame`).
 * - **Join by field** (`joinByField`, `joinDataFrames`): with two frames or more, one frame: the
 *   join field (from the first frame that has it), then every other field of each frame, in
 *   order. A frame without the join field is dropped.
 * - **Organize fields** (`organize`): fields excluded by name, ordered by `indexByName` (fields
 *   not listed keep their order after the listed ones), renamed by `renameByName`.
 *
 * Fields are matched by name; Grafana matches display names, which are the names for fields
 * without labels (every field of a table the dashboard joins or organizes).
 *
 * Where Grafana's outcome depends on the data or where it silently loses data, the model throws
 * instead: a table frame with a time and a number column offered to "Time series to table" (one
 * row, or rows whose times happen to ascend, turn it into a sparkline table), and a frame without
 * the join field. Other transformations are not modelled (an error names them).
 *
 * @module
 */

/** A field's type, as Grafana's frames type it. */
export type FieldKind = "time" | "number" | "string" | "boolean" | "frame" | "other";

/** A result column: its name and the field type its PostgreSQL type maps to. */
export interface Column {
  /** The column's name. */
  name: string;
  /** `string` for text, `number` for integers, floats and numerics, `time` for timestamps, ... */
  type: FieldKind;
}

/** A field of a frame, as far as the model goes. */
export interface FieldShape {
  /** Name (before any `displayName` override). */
  name: string;
  /** Type. */
  type: FieldKind;
  /** Names of its labels (a time series' text columns), when it has any. */
  labels?: readonly string[];
}

/** A data frame, as far as the model goes. */
export interface FrameShape {
  /** The query it came from (or the join's `joinByField-A-B`). */
  refId: string;
  /** Its fields, in order. */
  fields: FieldShape[];
  /**
   * Whether "Time series to table" takes it for a time series: `yes` for a `time_series` result
   * (sorted by time, or sqleng's long-to-wide conversion fails), `maybe` for a table with a time
   * and a number field (it depends on whether the times ascend), `no` otherwise.
   */
  timeSeries: "yes" | "maybe" | "no";
}

/** A panel transformation as the dashboard JSON stores it. */
export interface Transformation {
  /** Transformation id: `timeSeriesTable`, `joinByField`, `organize`, ... */
  id: string;
  /** Its options. */
  options?: Record<string, unknown>;
  /** Applies it only to the frames this matcher selects (Grafana's "Apply transformation to"). */
  filter?: { id: string; options?: unknown };
  /** Skipped when true. */
  disabled?: boolean;
}

/** The name "Time series to table" gives the series field of a query's table. */
export const trendFieldName = (refId: string): string => `Trend #${refId}`;

/**
 * The frame the PostgreSQL datasource returns for a query's result columns.
 *
 * @param refId The query's refId.
 * @param format The query's format, `time_series` or `table`.
 * @param columns The result's columns, in order.
 * @param rows How many rows the result has: without any, Grafana returns a frame without fields.
 * @returns The frame's shape.
 * @throws {Error} When a `time_series` result has no `time` column, as Grafana refuses it.
 *
 * @example
 * ```ts
 * import { queryFrame } from "./frames.ts";
 * const frame = queryFrame("B", "time_series", [
 *   { name: "time", type: "number" },
 *   { name: "Customer", type: "string" },
 *   { name: "bpm", type: "number" },
 * ]);
 * frame.fields; // [{ name: "Time", type: "time" }, { name: "bpm", type: "number", labels: ["Customer"] }]
 * ```
 */
export function queryFrame(
  refId: string,
  format: "time_series" | "table",
  columns: readonly Column[],
  rows = 1,
): FrameShape {
  if (rows === 0) return { refId, fields: [], timeSeries: "no" };
  const fields: FieldShape[] = columns.map((c) => ({ name: c.name, type: c.name === "time" ? "time" : c.type }));
  if (format === "table") {
    const hasTime = fields.some((f) => f.type === "time"), hasNumber = fields.some((f) => f.type === "number");
    return { refId, fields, timeSeries: hasTime && hasNumber ? "maybe" : "no" };
  }
  const timeIndex = columns.findIndex((c) => c.name === "time");
  if (timeIndex < 0) {
    throw new Error(`Cannot read query ${refId} as a time series: it has no "time" column`);
  }
  const time: FieldShape = { name: "Time", type: "time" };
  const others = fields.filter((_, i) => i !== timeIndex)
    .map((f): FieldShape => f.type === "string" ? f : { name: f.name, type: "number" });
  const labels = others.filter((f) => f.type === "string").map((f) => f.name);
  const values = others.filter((f) => f.type !== "string");
  if (labels.length === 0) return { refId, fields: [time, ...values], timeSeries: "yes" };
  if (columns.length === 3 && labels[0] === "metric") {
    return { refId, fields: [time, ...values.map((f) => ({ ...f, name: "<metric value>" }))], timeSeries: "yes" };
  }
  return { refId, fields: [time, ...values.map((f) => ({ ...f, labels }))], timeSeries: "yes" };
}

/**
 * Applies a panel's transformations to its frames, as Grafana 12 does (see the module doc for
 * what is modelled).
 *
 * @param transformations The panel's `transformations`.
 * @param frames The frames of its queries, in the order of its targets.
 * @returns The frames the panel draws.
 * @throws {Error} For a transformation the model does not know, and where Grafana's result would
 * depend on the data or lose a frame.
 */
export function transformFrames(
  transformations: readonly Transformation[],
  frames: readonly FrameShape[],
): FrameShape[] {
  let data = [...frames];
  for (const t of transformations) {
    if (t.disabled) continue;
    const matches = _frameFilter(t);
    const input = data.filter(matches);
    const output = _apply(t, input);
    if (output === input) continue;
    // transformDataFrame puts the frames the filter left out back in, at the index it finds (its
    // loop keeps looking while that index is 0)
    let at = 0;
    const left = data.filter((frame, i) => {
      const keep = !matches(frame);
      if (keep && !at) at = i;
      return keep;
    });
    if (left.length > 0) output.splice(at, 0, ...left);
    data = output;
  }
  return data;
}

function _frameFilter(t: Transformation): (frame: FrameShape) => boolean {
  if (t.filter?.options === undefined || t.filter.options === "") return () => true;
  if (t.filter.id !== "byRefId" || typeof t.filter.options !== "string" || t.filter.options.startsWith("/")) {
    throw new Error(`Cannot model the filter of transformation ${t.id}: ${JSON.stringify(t.filter)}`);
  }
  const pattern = new RegExp(`^${t.filter.options}$`); // Grafana's stringToJsRegex
  return (frame) => pattern.test(frame.refId);
}

function _apply(t: Transformation, frames: FrameShape[]): FrameShape[] {
  switch (t.id) {
    case "timeSeriesTable":
      return _timeSeriesTable(t.options ?? {}, frames);
    case "joinByField":
      return _joinByField(t.options ?? {}, frames);
    case "organize":
      return _organize(t.options ?? {}, frames);
    default:
      throw new Error(`Cannot model transformation ${t.id}: only timeSeriesTable, joinByField and organize are`);
  }
}

function _timeSeriesTable(options: Record<string, unknown>, frames: FrameShape[]): FrameShape[] {
  const result: FrameShape[] = [];
  const tables: FrameShape[] = [];
  for (const refId of new Set(frames.map((f) => f.refId))) {
    const own = frames.filter((f) => f.refId === refId);
    // label fields come from the number fields of every frame of the refId
    const labels = [
      ...new Set(own.flatMap((f) => f.fields.filter((x) => x.type === "number").flatMap((x) => x.labels ?? []))),
    ];
    let trend = false;
    for (const frame of own) {
      if (frame.timeSeries === "maybe") {
        throw new Error(
          `"Time series to table" may take table frame ${refId} for a time series (it has a time and a number field: ` +
            "one row, or rows whose times ascend, are enough): filter the transformation to the time-series queries",
        );
      }
      if (frame.timeSeries === "no") {
        result.push(frame);
        continue;
      }
      const timeField = (options[refId] as { timeField?: string } | undefined)?.timeField;
      const hasTime = frame.fields.some((f) => f.type === "time" && (!timeField || f.name === timeField));
      if (hasTime && frame.fields.some((f) => f.type === "number")) trend = true;
    }
    const fields: FieldShape[] = labels.map((name) => ({ name, type: "string" }));
    if (trend) fields.push({ name: trendFieldName(refId), type: "frame" });
    if (fields.length > 0) tables.push({ refId, fields, timeSeries: "no" });
  }
  return [...result, ...tables];
}

function _joinByField(options: Record<string, unknown>, frames: FrameShape[]): FrameShape[] {
  if (frames.length <= 1) return frames;
  const byField = options.byField;
  if (typeof byField !== "string" || byField === "") {
    throw new Error("Cannot model joinByField without byField (Grafana then picks a time or number field)");
  }
  let join: FieldShape | undefined;
  const others: FieldShape[] = [];
  for (const frame of frames) {
    if (frame.fields.length === 0) continue;
    const i = frame.fields.findIndex((f) => f.name === byField);
    if (i < 0) {
      throw new Error(
        `joinByField drops frame ${frame.refId}: it has no field ${byField} (fields: ${
          frame.fields.map((f) => f.name).join(", ")
        })`,
      );
    }
    join ??= frame.fields[i];
    others.push(...frame.fields.filter((_, j) => j !== i));
  }
  if (join === undefined) return frames;
  return [{
    refId: `joinByField-${frames.map((f) => f.refId).join("-")}`,
    fields: [join, ...others],
    timeSeries: "no",
  }];
}

function _organize(options: Record<string, unknown>, frames: FrameShape[]): FrameShape[] {
  const exclude = (options.excludeByName ?? {}) as Record<string, boolean>;
  const index = (options.indexByName ?? {}) as Record<string, number>;
  const rename = (options.renameByName ?? {}) as Record<string, string>;
  const position = (name: string) => index[name] ?? Number.MAX_SAFE_INTEGER;
  return frames.map((frame) => ({
    ...frame,
    fields: frame.fields
      .filter((f) => !exclude[f.name])
      .map((f, order) => ({ f, order }))
      .sort((a, b) => position(a.f.name) - position(b.f.name) || a.order - b.order)
      .map(({ f }) => rename[f.name] ? { ...f, name: rename[f.name]! } : f),
  }));
}
