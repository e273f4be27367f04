/**
 * The Grafana dashboard's SQL, proven without Grafana:
 *
 * - `expandMacros()` gives the expansions Grafana's own tests expect (pkg/tsdb/grafana-postgresql-
 *   datasource/macros_test.go), and interpolates template variables as the SQL datasource does;
 * - on a database filled by the real pipeline (producer → Kafka → consumer), every query of
 *   grafana/dashboards/heartbeat-monitor.json (panel targets, the `$customer` variable, the
 *   annotation), expanded as Grafana expands it and run as `grafana_reader`, returns the columns
 *   and types its panel type needs, and rows; the readings_5s rollup agrees with the readings,
 *   also after every record was delivered again; each table panel's frames, transformed as
 *   Grafana transforms them (grafana/frames.ts), hold every field its overrides and sorting name,
 *   and the Customers roster's sparkline series agree with the readings;
 * - `grafana_reader` can SELECT and nothing else.
 *
 * Requires `--allow-read`, `--allow-net=127.0.0.1:9092,127.0.0.1:5432`, `--allow-run` (the
 * producer and consumer scripts) and `--allow-env=CI`.
 *
 * @module
 */
import assert from "node:assert/strict";
// @ts-types="@types/pg"
import pg from "pg";
import {
  expandMacros,
  type ExpandOptions,
  goFloat,
  panelInterval,
  parseInterval,
  rfc3339Nano,
  roundInterval,
} from "./support/grafana/macros.ts";
import { type Column, queryFrame, transformFrames } from "./support/grafana/frames.ts";
import { dashboardQueries, type DashboardQuery, expandQuery, loadDashboard } from "./support/grafana/queries.ts";
import {
  groupCaughtUp,
  integrationTest,
  spawnTask,
  testDatabase,
  testTopic,
  uniqueName,
  waitUntil,
} from "./support/helpers.ts";

const ROLES_SQL = new URL("../sql/roles.sql", import.meta.url);

// ---------------------------------------------------------------------------------------------
// expandMacros and the interval, against Grafana's expected output

/** Grafana's macros_test.go: "Given a time range between 2018-04-12 00:00 and 2018-04-12 00:05". */
const FROM = Date.UTC(2018, 3, 12, 18, 0, 0);
const TO = FROM + 5 * 60_000;
const expand = (sql: string, options: Partial<ExpandOptions> = {}) =>
  expandMacros(sql, { from: FROM, to: TO, intervalMs: 600_000, ...options });

Deno.test("`expandMacros()` gives the expansions of Grafana's PostgreSQL macro tests", async (t) => {
  const cases: [string, string][] = [
    ["select $__time(time_column)", 'select time_column AS "time"'],
    ["select min($__time(time_column))", 'select min(time_column AS "time")'],
    ["select $__timeEpoch(time_column)", 'select extract(epoch from time_column) as "time"'],
    ["WHERE $__timeFilter(time_column)", "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"],
    ["select $__timeFrom()", "select '2018-04-12T18:00:00Z'"],
    ["select $__timeTo()", "select '2018-04-12T18:05:00Z'"],
    [
      "SELECT $__timeGroup(time_column,'5m'), value",
      'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value',
    ],
    [
      "SELECT $__timeGroup(time_column,'5m') as time, value",
      "SELECT floor(extract(epoch from time_column)/300)*300 as time, value",
    ],
    ["SELECT $__timeGroup(time_column,'5m')", "SELECT floor(extract(epoch from time_column)/300)*300"],
    ["SELECT $__timeGroupAlias(time_column,'5m')", 'SELECT floor(extract(epoch from time_column)/300)*300 AS "time"'],
    ["$__timeGroup(time_column , '5m')", "floor(extract(epoch from time_column)/300)*300"],
    ["$__timeGroupAlias(time_column , '5m')", 'floor(extract(epoch from time_column)/300)*300 AS "time"'],
    ["select $__unixEpochFilter(time)", "select time >= 1523556000 AND time <= 1523556300"],
    ["select $__unixEpochNanoFilter(time)", "select time >= 1523556000000000000 AND time <= 1523556300000000000"],
    ["select $__unixEpochNanoFrom()", "select 1523556000000000000"],
    ["select $__unixEpochNanoTo()", "select 1523556300000000000"],
    [
      "SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')",
      "SELECT floor((time_column+time_adjustment)/300)*300",
    ],
    [
      "SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')",
      'SELECT floor((time_column+time_adjustment)/300)*300 AS "time"',
    ],
    // sqleng.Interpolate, with a query interval of 10 minutes (TestInterpolateSQLCommenter)
    ["SELECT $__interval", "SELECT 10m"],
    ["SELECT $__interval_ms", "SELECT 600000"],
    ["SELECT $__unixEpochFrom(), $__unixEpochTo()", "SELECT 1523556000, 1523556300"],
  ];
  for (const [sql, expected] of cases) {
    await t.step(sql, () => assert.equal(expand(sql), expected));
  }
});

Deno.test("`expandMacros()` formats the time range as Go's RFC 3339 with trimmed nanoseconds, before 1970 too", () => {
  const from = Date.UTC(1960, 1, 1, 7, 0, 0), to = Date.UTC(1980, 1, 3, 8, 0, 0);
  assert.equal(
    expandMacros("WHERE $__timeFilter(time_column)", { from, to, intervalMs: 1000 }),
    "WHERE time_column BETWEEN '1960-02-01T07:00:00Z' AND '1980-02-03T08:00:00Z'",
  );
  assert.equal(
    expandMacros("select $__unixEpochFilter(time)", { from, to, intervalMs: 1000 }),
    `select time >= ${Math.floor(from / 1000)} AND time <= ${Math.floor(to / 1000)}`,
  );
  assert.equal(
    expandMacros("WHERE $__timeFilter(time_column)", { from: from + 500, to: to + 500, intervalMs: 1000 }),
    "WHERE time_column BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'",
  );
  assert.equal(rfc3339Nano(Date.UTC(2026, 10, 25, 12, 0, 0, 120)), "2026-11-25T12:00:00.12Z");
});

Deno.test("`expandMacros()` takes $__interval into the group macros, with Go's number formatting", async (t) => {
  const cases: [string, number, string][] = [
    ["$__timeGroupAlias(recorded_at, $__interval)", 1_000, 'floor(extract(epoch from recorded_at)/1)*1 AS "time"'],
    ["$__timeGroupAlias(recorded_at, $__interval, 0)", 5_000, 'floor(extract(epoch from recorded_at)/5)*5 AS "time"'],
    [
      "$__timeGroupAlias(recorded_at, $__interval, NULL)",
      60_000,
      'floor(extract(epoch from recorded_at)/60)*60 AS "time"',
    ],
    ["$__timeGroup(recorded_at, $__interval, previous)", 500, "floor(extract(epoch from recorded_at)/0.5)*0.5"],
    ["$__timeGroup(recorded_at, 1d)", 1_000, "floor(extract(epoch from recorded_at)/86400)*86400"],
    // Go prints float64 with %v in exponent form from 1e6 up: 12 days
    ["$__timeGroup(recorded_at, 12d)", 1_000, "floor(extract(epoch from recorded_at)/1.0368e+06)*1.0368e+06"],
    ["$__timeGroup(recorded_at, '1m30s')", 1_000, "floor(extract(epoch from recorded_at)/90)*90"],
  ];
  for (const [sql, intervalMs, expected] of cases) {
    await t.step(`${sql} at ${intervalMs} ms`, () => assert.equal(expand(sql, { intervalMs }), expected));
  }
});

Deno.test("`expandMacros()` refuses what Grafana refuses", async (t) => {
  const cases: [string, RegExp][] = [
    ["SELECT $__nope(x)", /unknown macro "__nope"/],
    ["SELECT $__timeGroup(x)", /needs time column and interval/],
    ["SELECT $__timeGroup(x, 1m, banana)", /error parsing fill value banana/],
    ["SELECT $__timeGroup(x, soon)", /error parsing interval soon/],
    ["SELECT $__timeGroup(x, 1M)", /error parsing interval 1M/],
  ];
  for (const [sql, error] of cases) {
    await t.step(sql, () => assert.throws(() => expand(sql), error));
  }
});

Deno.test("`expandMacros()` interpolates template variables as Grafana's SQL datasource does", async (t) => {
  const cases: [string, NonNullable<ExpandOptions["vars"]>, string][] = [
    ["customer_id IN ($customer)", { customer: ["CUST-001", "CUST-002"] }, "customer_id IN ('CUST-001','CUST-002')"],
    ["customer_id IN (${customer})", { customer: ["O'Brien"] }, "customer_id IN ('O''Brien')"],
    ["customer_id IN ([[customer]])", { customer: { value: "a", multi: true } }, "customer_id IN ('a')"],
    ["customer_id IN ($customer)", { customer: { value: "a", includeAll: true } }, "customer_id IN ('a')"],
    ["name = '$name'", { name: "O'Brien" }, "name = 'O''Brien'"],
    ["LIMIT $n", { n: 10 }, "LIMIT 10"],
    [
      "x = $other AND $__timeFilter(t)",
      {},
      "x = $other AND t BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'",
    ],
    ["$__from and $__to", {}, "1523556000000 and 1523556300000"],
  ];
  for (const [sql, vars, expected] of cases) {
    await t.step(sql, () => assert.equal(expand(sql, { vars }), expected));
  }
  assert.throws(
    () => expand("${customer:csv}", { vars: { customer: ["a"] } }),
    /formats and field paths are not supported/,
  );
});

Deno.test("`panelInterval()` picks the interval Grafana's frontend picks", async (t) => {
  const minute = 60_000;
  const cases: [string, number, number, string | undefined, string][] = [
    ["15 minutes, 1,120 px, min 1s", 15 * minute, 1120, "1s", "1s"],
    ["15 minutes, 1,120 px, min 5s", 15 * minute, 1120, "5s", "5s"],
    ["15 minutes, no min: the SQL datasource's 1m", 15 * minute, 1120, "1m", "1m"],
    ["24 hours, 1,120 px", 24 * 60 * minute, 1120, "5s", "1m"],
    ["24 hours, 960 px", 24 * 60 * minute, 960, "5s", "2m"],
    ["7 days, 1,120 px", 7 * 24 * 60 * minute, 1120, "5s", "10m"],
    ["1 minute, 1,920 px, no min", minute, 1920, undefined, "20ms"],
  ];
  for (const [name, span, points, minInterval, interval] of cases) {
    await t.step(name, () => {
      const got = panelInterval({ from: 0, to: span, maxDataPoints: points, ...(minInterval ? { minInterval } : {}) });
      assert.equal(got.interval, interval);
      assert.equal(got.intervalMs, parseInterval(interval));
    });
  }
  assert.equal(roundInterval(803), 1000);
  assert.equal(roundInterval(86_400_000 * 400), 31_536_000_000);
});

Deno.test("`goFloat()` prints numbers as Go's %v does", () => {
  const cases: [number, string][] = [
    [300, "300"],
    [0.5, "0.5"],
    [0.02, "0.02"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [123456, "123456"],
    [1036800, "1.0368e+06"],
    [31536000, "3.1536e+07"],
  ];
  for (const [n, text] of cases) assert.equal(goFloat(n), text, String(n));
});

// ---------------------------------------------------------------------------------------------
// the dashboard's queries, statically

const dashboard = await loadDashboard();
const queries = dashboardQueries(dashboard);

Deno.test("the dashboard's queries hold no SQL comments (recent Grafana strips them; expandMacros does not)", () => {
  for (const q of queries) assert.doesNotMatch(q.rawSql, /--|\/\*/, q.name);
});

/** A query's time range: $__timeFilter(column), or the rollups' function, which takes the range. */
const TIME_RANGE =
  /\$__timeFilter\(\w+\)|(?:readings|dead_letters)_rollup\(\$__timeFrom\(\), \$__timeTo\(\), \$__interval_ms\)|\$__timeFrom\(\)[^$]*\$__timeTo\(\)/;

Deno.test("every dashboard query is one SELECT limited to its time range, and expands", () => {
  assert.ok(queries.some((q) => q.source === "variable") && queries.some((q) => q.source === "annotation"));
  for (const q of queries) {
    assert.match(q.rawSql, /^\s*(SELECT|WITH)\b/i, q.name);
    assert.match(q.rawSql, TIME_RANGE, `${q.name} does not filter on the time range`);
    assert.doesNotMatch(q.rawSql, /;\s*\S/, `${q.name} holds more than one statement`);
    const { sql } = expandQuery(q, { from: FROM, to: TO }, { customer: ["CUST-001"] });
    assert.doesNotMatch(sql, /\$\w/, `${q.name} keeps an unexpanded $ after expansion: ${sql}`);
  }
});

// ---------------------------------------------------------------------------------------------
// the dashboard's queries on data the pipeline stored

/** PostgreSQL type OIDs node-postgres reports in `fields[].dataTypeID`. */
const OID = { bool: 16, int8: 20, int2: 21, int4: 23, text: 25, float4: 700, float8: 701, varchar: 1043 } as const;
const TIMESTAMPTZ = 1184, TIMESTAMP = 1114, NUMERIC = 1700;
const NUMBER_TYPES: ReadonlySet<number> = new Set([OID.int2, OID.int4, OID.int8, OID.float4, OID.float8, NUMERIC]);
const TEXT_TYPES: ReadonlySet<number> = new Set([OID.text, OID.varchar]);
const TIME_TYPES: ReadonlySet<number> = new Set([TIMESTAMPTZ, TIMESTAMP]);

/** Epoch ms of a value of a `time` column: a timestamp, or Grafana's epoch seconds from `$__timeGroupAlias`. */
function timeOf(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  const n = Number(value);
  assert.ok(Number.isFinite(n), `time value ${value} is neither a timestamp nor a number`);
  return n < 1e11 ? n * 1000 : n; // Grafana's epochPrecisionToMS: seconds are scaled to ms
}

/** The field type Grafana's PostgreSQL datasource gives a column of this PostgreSQL type. */
function columnType(dataTypeID: number): Column["type"] {
  if (TEXT_TYPES.has(dataTypeID)) return "string";
  if (NUMBER_TYPES.has(dataTypeID)) return "number";
  if (TIME_TYPES.has(dataTypeID)) return "time";
  return dataTypeID === OID.bool ? "boolean" : "other";
}

/**
 * Asserts that a `time_series` result is one Grafana's SQL datasource turns into series: a first
 * column `time` (a timestamp or epoch seconds, sorted, in the range), numeric values, and text
 * columns as it reads them. `metric`: at most one, named `metric`, which names each series (time
 * series and state timelines); `labels`: at least one, none named `metric`, each becoming a label
 * of the series (which "Time series to table" turns into a column to join on).
 */
function assertSeriesShape(
  where: string,
  result: pg.QueryResult<Record<string, unknown>>,
  range: { from: number; to: number },
  intervalMs: number,
  text: "metric" | "labels",
): void {
  const [time, ...rest] = result.fields;
  assert.equal(time?.name, "time", `${where}: the first column must be "time"`);
  assert.ok(
    TIME_TYPES.has(time.dataTypeID) || NUMBER_TYPES.has(time.dataTypeID),
    `${where}: "time" must be a timestamp or epoch seconds`,
  );
  const labels = rest.filter((f) => TEXT_TYPES.has(f.dataTypeID));
  if (text === "metric") {
    assert.ok(
      labels.length <= 1 && labels.every((f) => f.name === "metric"),
      `${where}: only a "metric" column may be text`,
    );
  } else {
    assert.ok(labels.length >= 1, `${where}: no text column to label the series with`);
    assert.ok(labels.every((f) => f.name !== "metric"), `${where}: a "metric" column names series, labels none`);
  }
  const values = rest.filter((f) => !TEXT_TYPES.has(f.dataTypeID));
  assert.ok(values.length >= 1, `${where}: no value column`);
  for (const f of values) assert.ok(NUMBER_TYPES.has(f.dataTypeID), `${where}: ${f.name} is not numeric`);
  // long-format frames are converted to wide ones only when sorted by time
  const times = result.rows.map((r) => timeOf(r.time));
  for (let i = 1; i < times.length; i++) assert.ok(times[i - 1]! <= times[i]!, `${where}: not sorted by time`);
  for (const ms of times) {
    assert.ok(
      ms >= range.from - intervalMs && ms <= range.to,
      `${where}: time ${new Date(ms).toISOString()} out of range`,
    );
  }
  assert.ok(result.rows.some((r) => values.some((f) => r[f.name] !== null)), `${where}: every value is null`);
  for (const f of labels) {
    assert.ok(result.rows.every((r) => typeof r[f.name] === "string"), `${where}: null ${f.name}`);
  }
}

/**
 * Asserts that a result has what its panel type needs, as Grafana's SQL datasource and the panel
 * read it (sqleng: a `time` column, numeric values, a `metric` text column or label columns;
 * annotations: `time`, `timeend`, `text`, `tags`).
 */
function assertShape(
  q: DashboardQuery,
  result: pg.QueryResult<Record<string, unknown>>,
  range: { from: number; to: number },
  intervalMs: number,
): void {
  const fields = result.fields;
  const names = fields.map((f) => f.name);
  const where = `${q.name} (${names.join(", ")})`;
  assert.equal(new Set(names).size, names.length, `${where}: duplicate column names`);
  switch (q.visualization) {
    case "variable":
      assert.ok(TEXT_TYPES.has(fields[0]!.dataTypeID), `${where}: the variable's values must be text`);
      break;
    case "timeseries":
    case "state-timeline":
      assert.equal(q.format, "time_series", where);
      assertSeriesShape(where, result, range, intervalMs, "metric");
      break;
    case "stat":
      assert.equal(result.rows.length, 1, `${where}: a stat wants one row`);
      for (const f of fields) {
        assert.ok(NUMBER_TYPES.has(f.dataTypeID), `${where}: ${f.name} is not numeric`);
        assert.notEqual(result.rows[0]![f.name], null, `${where}: ${f.name} is null although data exists`);
      }
      break;
    case "table":
      // a table panel's time-series query feeds a sparkline column ("Time series to table")
      if (q.format === "time_series") assertSeriesShape(where, result, range, intervalMs, "labels");
      else assert.ok(fields.length >= 1, `${where}: no columns`);
      break;
    case "annotation": {
      const type = (name: string) => fields.find((f) => f.name === name)?.dataTypeID;
      assert.ok(TIME_TYPES.has(type("time") ?? 0), `${where}: an annotation needs a "time" timestamp`);
      assert.ok(TIME_TYPES.has(type("timeend") ?? 0), `${where}: a region annotation needs a "timeend" timestamp`);
      assert.ok(TEXT_TYPES.has(type("text") ?? 0), `${where}: an annotation needs a "text" column`);
      assert.ok(TEXT_TYPES.has(type("tags") ?? 0), `${where}: "tags" is Grafana's comma-separated text`);
      break;
    }
    default:
      assert.fail(`${where}: no expectation for a ${q.visualization} panel; add one`);
  }
}

const RUN = { seed: 11, customers: 10, rate: 10, count: 20_000, anomalyRate: 0.01, invalidRate: 0.02 };

/**
 * The rollup rows that differ from the readings summed again, and a row "total" when the counts
 * differ: empty when readings_5s is exact. (delay_sum, a sum of floats, is left out.)
 */
const ROLLUP_MISMATCHES = `
  (SELECT customer_id, bucket, readings, anomalies, round(hr_sum::numeric, 6) AS hr_sum, hr_min, hr_max,
          critical_low, bradycardia, tachycardia, critical_high, delay_max,
          ARRAY[delay_lt_50ms, delay_lt_100ms, delay_lt_250ms, delay_lt_500ms, delay_lt_1s, delay_lt_2_5s, delay_lt_5s,
                delay_lt_10s, delay_lt_30s, delay_lt_1m, delay_lt_5m, delay_lt_1h, delay_ge_1h] AS delays
   FROM readings_5s
   EXCEPT
   SELECT customer_id, date_bin('5 seconds', recorded_at, timestamptz '1970-01-01 00:00:00+00'), count(*)::int,
          (count(*) FILTER (WHERE is_anomaly))::int, round(sum(heart_rate)::numeric, 6), min(heart_rate),
          max(heart_rate), (count(*) FILTER (WHERE category = 'critical_low'))::int,
          (count(*) FILTER (WHERE category = 'bradycardia'))::int,
          (count(*) FILTER (WHERE category = 'tachycardia'))::int,
          (count(*) FILTER (WHERE category = 'critical_high'))::int, max(delay),
          ARRAY[${Array.from({ length: 13 }, (_, w) => `count(*) FILTER (WHERE w = ${w})`).join(", ")}]::int[]
   FROM (SELECT *, date_part('epoch', ingested_at - recorded_at) AS delay FROM readings) r
   CROSS JOIN LATERAL (SELECT width_bucket(delay, ingest_delay_bounds()) AS w) b
   GROUP BY 1, 2)
  UNION ALL
  SELECT 'total', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  WHERE (SELECT coalesce(sum(readings), 0) FROM readings_5s) <> (SELECT count(*) FROM readings)`;

integrationTest(
  "every dashboard query runs as grafana_reader on data the pipeline stored and returns what its panel needs",
  async (t) => {
    await using db = await testDatabase();
    await using topic = testTopic();
    // a whole minute, so that the first reading's 5-second bucket starts inside the range
    const start = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000);
    const producer = await spawnTask("producer", [
      "--topic",
      topic.name,
      "--seed",
      String(RUN.seed),
      "--customers",
      String(RUN.customers),
      "--rate",
      String(RUN.rate),
      "--count",
      String(RUN.count),
      "--start",
      start.toISOString(),
      "--anomaly-rate",
      String(RUN.anomalyRate),
      "--invalid-rate",
      String(RUN.invalidRate),
    ]);
    assert.equal((await producer.status).code, 0, `producer failed:\n${producer.stderr()}`);

    const env = { DATABASE_URL: db.url, KAFKA_TOPIC: topic.name, KAFKA_GROUP_ID: uniqueName("dashboard") };
    {
      await using consumer = await spawnTask("consumer", [], env);
      await waitUntil("every message to be stored", async () => {
        const c = await db.counts();
        return c.readings + c.deadLetters >= RUN.count;
      }, 90_000);
      consumer.kill("SIGTERM");
      assert.equal((await consumer.status).code, 0, `consumer did not stop cleanly:\n${consumer.stderr()}`);
    }
    await db.repository.applySchema(await Deno.readTextFile(ROLES_SQL));

    const [stored] = await db.query<
      { readings: string; anomalous: string; customers: string; alerts: string }
    >(
      `SELECT (SELECT count(*) FROM readings) AS readings, (SELECT count(*) FROM readings WHERE is_anomaly) AS anomalous,
              (SELECT count(DISTINCT customer_id) FROM readings) AS customers, (SELECT count(*) FROM alerts) AS alerts`,
    );
    assert.ok(Number(stored?.alerts) > 0, "the run made no alerts: the episode panels would prove nothing");

    await t.step("the readings_5s rollup agrees with the readings", async () => {
      assert.deepEqual(await db.query(ROLLUP_MISMATCHES), []);
    });

    const reader = new pg.Client({
      connectionString: `postgres://grafana_reader:grafana_reader@127.0.0.1:5432/${new URL(db.url).pathname.slice(1)}`,
    });
    await reader.connect();
    try {
      const range = { from: start.getTime(), to: Date.now() };
      const variable = queries.find((q) => q.source === "variable")!;
      const ids = (await reader.query<{ customer_id: string }>(expandQuery(variable, range).sql)).rows
        .map((r) => Object.values(r)[0] as string);
      assert.equal(ids.length, Number(stored?.customers), "the $customer variable lists every customer");

      /** Each query's result with one customer selected and with All, for the steps after the loop. */
      const results = new Map<string, { intervalMs: number; result: pg.QueryResult<Record<string, unknown>> }>();
      for (
        const [selection, customer] of [
          ["All", { value: ids, multi: true, includeAll: true }],
          ["one customer", { value: [ids[0]!], multi: true, includeAll: true }],
        ] as const
      ) {
        await t.step(`$customer = ${selection}`, async (t) => {
          for (const q of queries) {
            await t.step(q.name, async () => {
              const { sql, intervalMs } = expandQuery(q, range, { customer });
              const result = await reader.query<Record<string, unknown>>(sql);
              if (selection === "All") assert.ok(result.rows.length > 0, `${q.name}: no rows although data exists`);
              if (result.rows.length > 0) assertShape(q, result, range, intervalMs);
              results.set(`${selection}: ${q.name}`, { intervalMs, result });
            });
          }
        });
      }

      await t.step(
        "each table panel's fields, transformed as Grafana does, hold what its overrides name",
        async (t) => {
          for (const panel of dashboard.panels.filter((p) => p.type === "table")) {
            await t.step(`panel ${panel.id} "${panel.title}"`, async (t) => {
              for (const selection of ["All", "one customer"]) {
                await t.step(selection, () => {
                  const frames = queries.filter((q) => q.panelId === panel.id).map((q) => {
                    const { result } = results.get(`${selection}: ${q.name}`)!;
                    const columns = result.fields.map((f) => ({ name: f.name, type: columnType(f.dataTypeID) }));
                    return queryFrame(q.refId!, q.format, columns, result.rows.length);
                  });
                  const drawn = transformFrames(panel.transformations ?? [], frames);
                  assert.equal(drawn.length, 1, `one table, not ${drawn.map((f) => f.refId).join(", ")}`);
                  const fields = drawn[0]!.fields;
                  if (fields.length === 0) {
                    assert.equal(selection, "one customer", "every query has rows with All");
                    return; // no rows: Grafana shows "No data"
                  }
                  const names = fields.map((f) => f.name);
                  const overrides = panel.fieldConfig?.overrides ?? [];
                  const displayName = (name: string) =>
                    overrides.find((o) => o.matcher.id === "byName" && o.matcher.options === name)?.properties
                      .find((p) => p.id === "displayName")?.value ?? name;
                  for (const o of overrides) {
                    assert.equal(o.matcher.id, "byName", "overrides match fields by name");
                    const field = fields.find((f) => f.name === o.matcher.options);
                    assert.ok(field !== undefined, `no field "${o.matcher.options}" among ${names.join(", ")}`);
                    const cell = o.properties.find((p) => p.id === "custom.cellOptions")?.value as { type?: string };
                    if (cell?.type === "sparkline") {
                      assert.equal(field.type, "frame", `"${field.name}" holds no series`);
                    }
                  }
                  for (const { displayName: name } of panel.options?.sortBy ?? []) {
                    assert.ok(
                      names.some((n) => displayName(n) === name),
                      `sorted by "${name}", which is no field`,
                    );
                  }
                });
              }
            });
          }
        },
      );

      await t.step("the Customers roster's sparkline series are the readings' averages per interval", async () => {
        const roster = queries.filter((q) => q.panelId === 7);
        const table = roster.find((q) => q.format === "table")!,
          series = roster.find((q) => q.format === "time_series")!;
        const rows = results.get(`All: ${table.name}`)!.result.rows;
        const { intervalMs, result } = results.get(`All: ${series.name}`)!;
        const [, label, value] = result.fields.map((f) => f.name);
        const got = new Map(result.rows.map((r) => [`${r[label!]} ${timeOf(r.time)}`, Number(r[value!])]));
        assert.deepEqual(
          [...new Set(result.rows.map((r) => r[label!]))].sort(),
          rows.map((r) => r.Customer).sort(),
          "every roster row has a series, and every series a row",
        );
        const expected = await db.query<{ customer_id: string; ms: string; bpm: number }>(
          `SELECT customer_id, (extract(epoch FROM b) * 1000)::bigint AS ms, avg(heart_rate)::float8 AS bpm
           FROM (SELECT customer_id, heart_rate,
                        date_bin($1 * interval '1 ms', recorded_at, timestamptz '1970-01-01 00:00:00+00') AS b
                 FROM readings WHERE recorded_at >= $2 AND recorded_at < $3) r
           GROUP BY 1, 2`,
          [intervalMs, new Date(range.from), new Date(range.to)],
        );
        assert.equal(got.size, expected.length, "one point per customer and interval with readings");
        for (const e of expected) {
          const bpm = got.get(`${e.customer_id} ${Number(e.ms)}`);
          assert.ok(
            bpm !== undefined && Math.abs(bpm - e.bpm) <= 1e-9 * e.bpm,
            `${e.customer_id} at ${e.ms}: ${bpm} ≠ ${e.bpm}`,
          );
        }
      });

      await t.step("the stats agree with the readings", async () => {
        const run = async (title: string) => {
          const q = queries.find((x) => x.name.includes(`"${title}"`))!;
          const row = (await reader.query(expandQuery(q, range, { customer: ids }).sql)).rows[0] as Record<
            string,
            unknown
          >;
          return Number(Object.values(row)[0]);
        };
        assert.equal(await run("Active customers"), ids.length);
        const seconds = Math.floor(range.to / 1000) - Math.floor(range.from / 1000);
        assert.ok(Math.abs(await run("Readings/s") - Number(stored?.readings) / seconds) < 1e-9);
        const rate = 100 * Number(stored?.anomalous) / Number(stored?.readings);
        assert.ok(Math.abs(await run("Anomaly rate") - rate) < 1e-9);
      });
    } finally {
      await reader.end();
    }

    await t.step("delivering every record again changes neither the readings nor the rollup", async () => {
      const before = await db.query("SELECT * FROM readings_5s ORDER BY customer_id, bucket");
      const group = uniqueName("dashboard_again");
      await using again = await spawnTask("consumer", [], { ...env, KAFKA_GROUP_ID: group });
      await waitUntil(
        "the second group to commit every partition",
        () => groupCaughtUp(topic.kafka, topic.name, group),
      );
      again.kill("SIGTERM");
      assert.equal((await again.status).code, 0, again.stderr());
      assert.deepEqual(await db.query("SELECT * FROM readings_5s ORDER BY customer_id, bucket"), before);
      assert.deepEqual(await db.query(ROLLUP_MISMATCHES), []);
    });
  },
  240_000,
);

// ---------------------------------------------------------------------------------------------
// grafana_reader's privileges

integrationTest("grafana_reader can SELECT every dashboard table and cannot write or create anything", async (t) => {
  await using db = await testDatabase();
  await db.repository.applySchema(await Deno.readTextFile(ROLES_SQL));
  const name = new URL(db.url).pathname.slice(1);
  const reader = new pg.Client({ connectionString: `postgres://grafana_reader:grafana_reader@127.0.0.1:5432/${name}` });
  await reader.connect();
  /** The SQLSTATE a statement fails with, or null when it succeeds. */
  const failure = async (sql: string): Promise<string | null> => {
    try {
      await reader.query(sql);
      return null;
    } catch (error) {
      return (error as { code?: string }).code ?? "unknown";
    }
  };
  try {
    for (const table of ["readings", "dead_letters", "alerts", "readings_5s"]) {
      await t.step(
        `SELECT from ${table}`,
        async () => assert.equal(await failure(`SELECT * FROM ${table} LIMIT 1`), null),
      );
    }
    await t.step("sessions are read-only, time-limited and without JIT", async () => {
      const setting = async (name: string) => (await reader.query(`SHOW ${name}`)).rows[0]?.[name];
      assert.equal(await setting("default_transaction_read_only"), "on");
      assert.equal(await setting("statement_timeout"), "30s");
      assert.equal(await setting("jit"), "off");
      assert.equal(
        await failure(
          "INSERT INTO alerts (customer_id, kind, started_at, opened_at, last_at, peak, reading_count, severity) VALUES ('x', 'bradycardia', now(), now(), now(), 50, 5, 'warning')",
        ),
        "25006",
        "refused by the read-only default first",
      );
    });
    // in a read-write transaction, only the privileges stand in the way: 42501 insufficient_privilege
    const writes = [
      "INSERT INTO readings (customer_id, recorded_at, heart_rate, is_anomaly, category, kafka_partition, kafka_offset) VALUES ('x', now(), 70, false, 'normal', 0, 0)",
      "UPDATE readings SET heart_rate = 0",
      "DELETE FROM readings",
      "TRUNCATE readings",
      "INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, payload_bytes, reason, reasons) VALUES ('t', 0, 0, 0, 'empty', '[]')",
      "UPDATE dead_letters SET reason = 'x'",
      "DELETE FROM dead_letters",
      "UPDATE alerts SET severity = 'critical'",
      "DELETE FROM alerts",
      "UPDATE readings_5s SET readings = 0",
      "DELETE FROM readings_5s",
      "CREATE TABLE public.grafana_was_here (x int)",
      "CREATE SCHEMA grafana_was_here",
      "CREATE INDEX grafana_was_here ON readings (heart_rate)",
      "ALTER TABLE readings ADD COLUMN grafana_was_here int",
      "DROP TABLE alerts",
      "CREATE FUNCTION public.grafana_was_here() RETURNS int LANGUAGE sql RETURN 1",
    ];
    for (const sql of writes) {
      await t.step(sql.slice(0, 60), async () => {
        await reader.query("BEGIN READ WRITE");
        try {
          assert.equal(await failure(sql), "42501", sql);
        } finally {
          await reader.query("ROLLBACK");
        }
      });
    }
  } finally {
    await reader.end();
  }
});
