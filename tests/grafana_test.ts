/**
 * Static checks of the monitoring stack: the Grafana provisioning, the Heartbeat Monitor dashboard
 * and docker-compose.yml must agree with each other and with scripts/kafka.sh. Nothing here needs
 * Grafana, Docker or the network, so the panel SQL is checked for shape only: tests/
 * dashboard_queries_test.ts expands Grafana's macros and runs every query on real data. The
 * model of Grafana's frames and transformations (grafana/frames.ts) is tested here on made-up
 * columns, and the Customers roster's sparkline wiring on the dashboard's JSON.
 *
 * Requires `--allow-read` (the repository's files).
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseYaml } from "./support/yaml.ts";
import {
  type Column,
  type FrameShape,
  queryFrame,
  type Transformation,
  transformFrames,
} from "./support/grafana/frames.ts";

const read = (path: string) => Deno.readTextFile(new URL(`../${path}`, import.meta.url));

const readYaml = async (path: string): Promise<unknown> => parseYaml(await read(path));

/** A datasource reference as it appears on panels, targets and variables. */
interface DatasourceRef {
  type?: string;
  uid?: string;
}

interface Target {
  refId?: string;
  datasource?: DatasourceRef;
  rawSql?: string;
  format?: string;
}

interface GridPos {
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Override {
  matcher: { id: string; options?: unknown };
  properties: { id: string; value?: unknown }[];
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: GridPos;
  datasource?: DatasourceRef;
  targets?: Target[];
  interval?: string;
  maxDataPoints?: number;
  transformations?: Transformation[];
  fieldConfig?: { overrides?: Override[] };
}

interface Variable {
  name: string;
  type: string;
  datasource?: DatasourceRef;
  query?: unknown;
}

interface Dashboard {
  uid: string;
  title: string;
  refresh: string;
  time: { from: string; to: string };
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

interface DatasourceProvisioning {
  datasources: {
    uid: string;
    type: string;
    url: string;
    user: string;
    isDefault?: boolean;
    jsonData: { database: string } & Record<string, unknown>;
  }[];
}

interface DashboardProvisioning {
  providers: { type: string; folder?: string; allowUiUpdates?: boolean; options: { path: string } }[];
}

interface ComposeService {
  image: string;
  environment?: Record<string, string | number | boolean>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
}

interface Compose {
  services: Record<string, ComposeService>;
}

const DASHBOARD_FILE = "grafana/dashboards/heartbeat-monitor.json";

const dashboard = JSON.parse(await read(DASHBOARD_FILE)) as Dashboard;
const datasources = (await readYaml("grafana/provisioning/datasources/postgres.yaml")) as DatasourceProvisioning;
const providers = (await readYaml("grafana/provisioning/dashboards/heartbeat.yaml")) as DashboardProvisioning;
const compose = (await readYaml("docker-compose.yml")) as Compose;

/** The compose service of that name, or a failed assertion naming it. */
function service(name: string): ComposeService {
  const found = compose.services[name];
  assert.ok(found !== undefined, `docker-compose.yml has no service '${name}'`);
  return found;
}

/** A service's bind mounts as [host path, container path], with `./` and options stripped. */
function mounts(name: string): [string, string][] {
  return (service(name).volumes ?? []).map((v) => {
    const [host = "", container = ""] = v.split(":");
    return [host.replace(/^\.\//, ""), container];
  });
}

/** Every target of every panel, with the panel it belongs to. */
const targets = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));

Deno.test("the provisioned datasource is the one PostgreSQL datasource, on the compose postgres service", () => {
  assert.equal(datasources.datasources.length, 1);
  const [ds] = datasources.datasources;
  assert.ok(ds !== undefined);
  assert.equal(ds.uid, "heartbeat-postgres");
  assert.equal(ds.type, "grafana-postgresql-datasource");
  assert.equal(ds.isDefault, true);
  const postgres = service("postgres");
  // every connection setting is an environment variable whose compose default is the local database
  const env = service("grafana").environment ?? {};
  const fromEnv = (value: unknown) => {
    const name = /^\$\{(\w+)\}$/.exec(String(value))?.[1];
    assert.ok(name !== undefined, `${value} is an environment variable`);
    return /^\$\{\w+:-(.*)\}$/.exec(String(env[name]))?.[1];
  };
  assert.equal(
    fromEnv(ds.url),
    "postgres:5432",
    "by default the datasource reaches the compose service named postgres",
  );
  assert.equal(fromEnv(ds.jsonData.database), postgres.environment?.POSTGRES_DB);
  assert.equal(fromEnv(ds.user), "grafana_reader");
  assert.equal(fromEnv(ds.jsonData.sslmode), "disable", "no TLS to the compose database by default");
  for (const key of ["sslRootCertFile", "sslCertFile", "sslKeyFile"]) assert.equal(fromEnv(ds.jsonData[key]), "", key);
});

Deno.test("the datasource connects as grafana_reader, the role sql/roles.sql creates, which reads every table", async () => {
  const roles = await read("sql/roles.sql");
  assert.equal(service("grafana").environment?.GRAFANA_DB_USER, "${GRAFANA_DB_USER:-grafana_reader}");
  assert.match(roles, /CREATE ROLE grafana_reader LOGIN/);
  // every table of every migration, and of later ones: tests/dashboard_queries_test.ts and
  // tests/migrations_test.ts check the grant on real databases
  assert.match(roles, /^GRANT SELECT ON ALL TABLES IN SCHEMA public TO grafana_reader;$/m);
  assert.doesNotMatch(roles, /GRANT (ALL|INSERT|UPDATE|DELETE|TRUNCATE)/i, "grafana_reader must stay read-only");
});

Deno.test("every panel, target and variable uses the provisioned datasource", () => {
  const uid = datasources.datasources[0]?.uid;
  const type = datasources.datasources[0]?.type;
  for (const panel of dashboard.panels) {
    assert.deepEqual(panel.datasource, { type, uid }, `panel ${panel.id} '${panel.title}'`);
    assert.ok((panel.targets ?? []).length > 0, `panel ${panel.id} '${panel.title}' has no query`);
  }
  for (const { panel, target } of targets) {
    assert.deepEqual(target.datasource, { type, uid }, `panel ${panel.id} target ${target.refId}`);
  }
  for (const variable of dashboard.templating.list.filter((v) => v.type === "query")) {
    assert.deepEqual(variable.datasource, { type, uid }, `variable $${variable.name}`);
  }
});

Deno.test("panel ids are unique", () => {
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, `duplicate panel ids in ${ids.join(", ")}`);
  for (const id of ids) assert.ok(Number.isInteger(id) && id > 0, `panel id ${id} is not a positive integer`);
});

Deno.test("panels fit the 24-column grid and do not overlap", () => {
  for (const { id, gridPos: g } of dashboard.panels) {
    for (const n of [g.x, g.y, g.w, g.h]) assert.ok(Number.isInteger(n) && n >= 0, `panel ${id}: ${JSON.stringify(g)}`);
    assert.ok(g.w >= 1 && g.h >= 1, `panel ${id} has no area`);
    assert.ok(g.x + g.w <= 24, `panel ${id} ends at column ${g.x + g.w}, past 24`);
  }
  const panels = dashboard.panels;
  for (const [i, a] of panels.entries()) {
    for (const b of panels.slice(i + 1)) {
      const p = a.gridPos, q = b.gridPos;
      const overlap = p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h;
      assert.ok(!overlap, `panels ${a.id} and ${b.id} overlap: ${JSON.stringify(p)} ${JSON.stringify(q)}`);
    }
  }
});

Deno.test("the dashboard refreshes every 5s over the last 15 minutes", () => {
  assert.equal(dashboard.uid, "heartbeat-monitor");
  assert.equal(dashboard.title, "Heartbeat Monitor");
  assert.equal(dashboard.refresh, "5s");
  assert.deepEqual(dashboard.time, { from: "now-15m", to: "now" });
  assert.ok(dashboard.schemaVersion >= 39, `schemaVersion ${dashboard.schemaVersion} is older than 39`);
});

Deno.test("every query is non-empty SQL limited to the dashboard's time range", () => {
  assert.ok(targets.length >= dashboard.panels.length);
  for (const { panel, target } of targets) {
    const sql = target.rawSql?.trim() ?? "";
    const where = `panel ${panel.id} '${panel.title}' target ${target.refId}`;
    assert.ok(sql.length > 0, `${where} has no rawSql`);
    assert.match(sql, /^(SELECT|WITH)\b/i, `${where} is not a SELECT`);
    // $__timeFilter(column), or the rollups' function, which takes the range
    assert.match(
      sql,
      /\$__timeFilter\(\w+\)|(?:readings|dead_letters)_rollup\(\$__timeFrom\(\), \$__timeTo\(\), \$__interval_ms\)|\$__timeFrom\(\)[^$]*\$__timeTo\(\)/,
      `${where} does not filter on the time range`,
    );
  }
});

Deno.test("time-series queries return a time column from $__timeGroupAlias, first", () => {
  for (const { panel, target } of targets.filter((t) => t.target.format === "time_series")) {
    assert.match(target.rawSql ?? "", /^SELECT \$__timeGroupAlias\(\w+, \$__interval(, 0)?\)/, `panel ${panel.id}`);
  }
});

Deno.test("the $customer variable is multi-value and every reading panel filters on it", () => {
  const customer = dashboard.templating.list.find((v) => v.name === "customer");
  assert.ok(customer !== undefined, "no $customer variable");
  assert.equal((customer as { multi?: boolean }).multi, true);
  // the customers with rows in the hourly rollup whose hour meets the range
  assert.match(
    String(customer.query),
    /SELECT customer_id FROM .*\bFROM readings_1h\b.*h\.bucket > \$__timeFrom\(\)::timestamptz - interval '1 hour' AND h\.bucket <= \$__timeTo\(\)/s,
  );
  for (const { panel, target } of targets) {
    if (/\bFROM (readings|readings_5s|alerts)\b/.test(target.rawSql ?? "")) {
      assert.match(
        target.rawSql ?? "",
        /customer_id IN \(\$customer\)|ARRAY\[\$customer\]/,
        `panel ${panel.id} '${panel.title}'`,
      );
    }
  }
});

Deno.test("the dashboard provider reads the folder compose mounts grafana/dashboards on", async () => {
  assert.equal(providers.providers.length, 1);
  const [provider] = providers.providers;
  assert.ok(provider !== undefined);
  assert.equal(provider.type, "file");
  assert.equal(provider.folder, "Heartbeat");
  assert.equal(provider.allowUiUpdates, false);
  const grafana = mounts("grafana");
  assert.ok(
    grafana.some(([host, container]) => host === "grafana/dashboards" && container === provider.options.path),
    `grafana must mount ./grafana/dashboards on ${provider.options.path}; mounts: ${JSON.stringify(grafana)}`,
  );
  assert.ok(
    grafana.some(([host, container]) => host === "grafana/provisioning" && container === "/etc/grafana/provisioning"),
  );
  const home = String(service("grafana").environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH);
  assert.equal(home, `${provider.options.path}/heartbeat-monitor.json`);
  await Deno.stat(new URL(`../${DASHBOARD_FILE}`, import.meta.url));
});

Deno.test("compose runs the same Kafka version as scripts/kafka.sh", async () => {
  const script = await read("scripts/kafka.sh");
  const version = /^KAFKA_VERSION="\$\{KAFKA_VERSION:-([^}]+)\}"$/m.exec(script)?.[1];
  assert.ok(version !== undefined, "no KAFKA_VERSION default in scripts/kafka.sh");
  const image = service("kafka").image;
  const [name, tag] = image.split(":");
  assert.equal(name, "apache/kafka");
  assert.equal(tag, version, `docker-compose.yml runs ${image}, scripts/kafka.sh runs ${version}`);
});

Deno.test("compose Kafka is one KRaft node advertised on 127.0.0.1:9092 without topic auto-creation", () => {
  const env = service("kafka").environment ?? {};
  assert.equal(env.KAFKA_PROCESS_ROLES, "broker,controller");
  assert.equal(env.KAFKA_ZOOKEEPER_CONNECT, undefined);
  assert.match(String(env.KAFKA_ADVERTISED_LISTENERS), /(^|,)PLAINTEXT:\/\/127\.0\.0\.1:9092(,|$)/);
  assert.equal(String(env.KAFKA_AUTO_CREATE_TOPICS_ENABLE), "false");
  assert.equal(String(env.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR), "1");
});

Deno.test("compose PostgreSQL initialises the database with sql/initdb.sql (the migrations), then sql/roles.sql", () => {
  const postgres = service("postgres");
  assert.equal(postgres.image, "postgres:15");
  const init = mounts("postgres").filter(([, container]) => container.startsWith("/docker-entrypoint-initdb.d/"));
  const bySource = new Map(init.map(([host, container]) => [host, container]));
  const migrations = bySource.get("sql/initdb.sql");
  const roles = bySource.get("sql/roles.sql");
  assert.ok(migrations !== undefined, `sql/initdb.sql is not mounted into initdb: ${JSON.stringify(init)}`);
  assert.ok(roles !== undefined, `sql/roles.sql is not mounted into initdb: ${JSON.stringify(init)}`);
  assert.equal(init.length, 2, `nothing else runs at initdb: ${JSON.stringify(init)}`);
  for (const file of [migrations, roles]) {
    assert.match(file, /\/[^/]+\.sql$/, `initdb runs only *.sql (and *.sh) files: ${file}`);
  }
  assert.ok(migrations < roles, `initdb runs files in name order: ${migrations} must sort before ${roles}`);
  assert.equal(service("grafana").depends_on?.postgres?.condition, "service_healthy");
});

// ---------------------------------------------------------------------------------------------
// the frame model (grafana/frames.ts) and the Customers roster's sparkline

const col = (name: string, type: Column["type"]): Column => ({ name, type });
/** The Customers panel's result columns, as PostgreSQL types them (tests/dashboard_queries_test.ts checks the real ones). */
const ROSTER_COLUMNS: Column[] = [
  col("Customer", "string"),
  col("Latest", "number"),
  col("State", "string"),
  col("Min", "number"),
  col("Avg", "number"),
  col("Max", "number"),
  col("Anomalies", "number"),
  col("Last reading", "time"),
];
const SPARKLINE_COLUMNS: Column[] = [col("time", "number"), col("Customer", "string"), col("bpm", "number")];
const names = (frames: FrameShape[]) => frames.map((f) => `${f.refId}: ${f.fields.map((x) => x.name).join(", ")}`);

Deno.test("`queryFrame()` keeps a time series' text columns as labels, except a lone `metric` column", async (t) => {
  await t.step("a label column other than metric labels each series", () => {
    const frame = queryFrame("B", "time_series", SPARKLINE_COLUMNS);
    assert.deepEqual(frame.fields, [
      { name: "Time", type: "time" },
      { name: "bpm", type: "number", labels: ["Customer"] },
    ]);
    assert.equal(frame.timeSeries, "yes");
  });
  await t.step("time, metric, value: the metric names the series and no label is left", () => {
    const frame = queryFrame("A", "time_series", [
      col("time", "number"),
      col("metric", "string"),
      col("value", "number"),
    ]);
    assert.deepEqual(frame.fields.map((f) => f.labels), [undefined, undefined]);
  });
  await t.step("a table with a time and a number column might be taken for a time series", () => {
    assert.equal(queryFrame("A", "table", ROSTER_COLUMNS).timeSeries, "maybe");
    assert.equal(queryFrame("A", "table", [col("Customer", "string"), col("Latest", "number")]).timeSeries, "no");
  });
  await t.step("a time series needs a time column", () => {
    assert.throws(() => queryFrame("B", "time_series", [col("bpm", "number")]), /no "time" column/);
  });
});

Deno.test("`transformFrames()` turns series into a Trend column and joins it to the table by the label", async (t) => {
  const roster = queryFrame("A", "table", ROSTER_COLUMNS),
    sparkline = queryFrame("B", "time_series", SPARKLINE_COLUMNS);
  const toTable: Transformation = {
    id: "timeSeriesTable",
    filter: { id: "byRefId", options: "B" },
    options: { B: {} },
  };
  const join: Transformation = { id: "joinByField", options: { byField: "Customer", mode: "outer" } };
  await t.step("time series to table, only on B: A passes through in its place", () => {
    assert.deepEqual(names(transformFrames([toTable], [roster, sparkline])), [
      `A: ${ROSTER_COLUMNS.map((c) => c.name).join(", ")}`,
      "B: Customer, Trend #B",
    ]);
  });
  await t.step("then a join by Customer: one frame, the Trend last", () => {
    const [frame, ...rest] = transformFrames([toTable, join], [roster, sparkline]);
    assert.deepEqual(rest, []);
    assert.deepEqual(frame?.fields.at(-1), { name: "Trend #B", type: "frame" });
    assert.equal(frame?.fields[0]?.name, "Customer");
  });
  await t.step("organize excludes, orders (listed fields first) and renames", () => {
    const organize: Transformation = {
      id: "organize",
      options: {
        indexByName: { Customer: 0, "Trend #B": 1 },
        renameByName: { "Trend #B": "Trend" },
        excludeByName: { Min: true },
      },
    };
    const [frame] = transformFrames([toTable, join, organize], [roster, sparkline]);
    assert.deepEqual(
      frame?.fields.map((f) => f.name),
      ["Customer", "Trend", "Latest", "State", "Avg", "Max", "Anomalies", "Last reading"],
    );
  });
  await t.step("without the filter, the table could be taken for a time series: refused", () => {
    assert.throws(
      () => transformFrames([{ id: "timeSeriesTable", options: { B: {} } }], [roster, sparkline]),
      /filter the/,
    );
    const noTime = queryFrame("A", "table", ROSTER_COLUMNS.filter((c) => c.type !== "time"));
    assert.deepEqual(
      names(transformFrames([{ id: "timeSeriesTable" }], [noTime, sparkline])).at(-1),
      "B: Customer, Trend #B",
    );
  });
  await t.step("a frame without the join field would be dropped: refused", () => {
    const metric = queryFrame("B", "time_series", [
      col("time", "number"),
      col("metric", "string"),
      col("bpm", "number"),
    ]);
    assert.throws(() => transformFrames([toTable, join], [roster, metric]), /drops frame B: it has no field Customer/);
  });
  await t.step("an unknown transformation is refused", () => {
    assert.throws(() => transformFrames([{ id: "merge" }], [roster]), /Cannot model transformation merge/);
  });
});

Deno.test("the Customers roster draws its series query as a sparkline column, joined on the customer", () => {
  const roster = dashboard.panels.find((p) => p.id === 7);
  assert.ok(roster !== undefined && roster.title === "Customers", "panel 7 is the Customers roster");
  const panels = dashboard.panels.filter((p) => p.transformations?.some((t) => t.id === "timeSeriesTable"));
  assert.deepEqual(panels.map((p) => p.id), [7], "the panels with a sparkline");
  for (const panel of panels) {
    const where = `panel ${panel.id} '${panel.title}'`;
    const transformations = panel.transformations ?? [];
    const series = (panel.targets ?? []).filter((t) => t.format === "time_series");
    const tables = (panel.targets ?? []).filter((t) => t.format === "table");
    assert.ok(series.length >= 1 && tables.length >= 1, `${where}: a table query and a time-series query`);

    // "Time series to table" only on the time-series queries: a table frame with a time column that
    // happens to ascend (one customer selected: one row) would become a sparkline table itself
    const toTable = transformations.find((t) => t.id === "timeSeriesTable")!;
    assert.equal(toTable.filter?.id, "byRefId", `${where}: timeSeriesTable must be filtered by query`);
    const filter = new RegExp(`^${toTable.filter?.options}$`);
    for (const t of series) assert.match(t.refId ?? "", filter, `${where}: the filter leaves out ${t.refId}`);
    for (const t of tables) assert.doesNotMatch(t.refId ?? "", filter, `${where}: the filter takes table ${t.refId}`);
    for (const refId of Object.keys(toTable.options ?? {})) {
      assert.ok(series.some((t) => t.refId === refId), `${where}: options for ${refId}, which is no time-series query`);
    }

    // each series query's Trend field is drawn as a sparkline
    const overrides = panel.fieldConfig?.overrides ?? [];
    for (const t of series) {
      const override = overrides.find((o) => o.matcher.id === "byName" && o.matcher.options === `Trend #${t.refId}`);
      assert.ok(override !== undefined, `${where}: no override for "Trend #${t.refId}"`);
      const cell = override.properties.find((p) => p.id === "custom.cellOptions")?.value as { type?: string };
      assert.equal(cell?.type, "sparkline", `${where}: "Trend #${t.refId}" is not drawn as a sparkline`);
    }

    // the join field is a column of every table query and the label column of every series query
    const join = transformations.find((t) => t.id === "joinByField");
    const byField = join?.options?.byField;
    assert.ok(typeof byField === "string" && byField !== "", `${where}: no joinByField with a byField`);
    assert.ok(
      transformations.indexOf(join!) > transformations.indexOf(toTable),
      `${where}: the join must follow timeSeriesTable`,
    );
    for (const t of tables) assert.match(t.rawSql ?? "", new RegExp(`AS "${byField}"`), `${where} ${t.refId}`);
    for (const t of series) {
      const select = /^SELECT (.*)$/m.exec(t.rawSql ?? "")?.[1]?.split(/,\s*(?![^(]*\))/) ?? [];
      assert.equal(select.length, 3, `${where} ${t.refId}: time, the label, the value: ${select.join(" | ")}`);
      assert.equal(select[1], `"${byField}"`, `${where} ${t.refId}: the label column must be the join field`);
      assert.doesNotMatch(t.rawSql ?? "", /\bAS metric\b/i, `${where} ${t.refId}: a metric column leaves no label`);
    }

    // few points per row, on whole rollup buckets
    assert.equal(panel.interval, "5s", `${where}: the series read readings_5s`);
    assert.ok((panel.maxDataPoints ?? Infinity) <= 100, `${where}: a sparkline needs no more than 100 points`);
  }
});
