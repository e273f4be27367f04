/**
 * Static checks of the monitoring stack: the Grafana provisioning, the Heartbeat Monitor dashboard
 * and docker-compose.yml must agree with each other and with scripts/kafka.sh. Nothing here needs
 * Grafana, Docker or the network, so the panel SQL is checked for shape only: tests/
 * dashboard_queries_test.ts expands Grafana's macros and runs every query on real data.
 *
 * Requires `--allow-read` (the repository's files).
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { parse } from "yaml";

const read = (path: string) => Deno.readTextFile(new URL(`../${path}`, import.meta.url));

/**
 * Parses YAML without environment access. The `yaml` package's parser reads its debug switches
 * (`process.env.LOG_TOKENS`, `LOG_STREAM`) while it parses, which throws `NotCapable` under
 * `deno test --allow-read` alone; parsing is synchronous, so an empty environment stands in for
 * exactly that long.
 */
function parseYaml(text: string): unknown {
  const env = process.env;
  Object.defineProperty(process, "env", { value: {}, configurable: true, writable: true, enumerable: true });
  try {
    return parse(text);
  } finally {
    Object.defineProperty(process, "env", { value: env, configurable: true, writable: true, enumerable: true });
  }
}

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

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: GridPos;
  datasource?: DatasourceRef;
  targets?: Target[];
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
    jsonData: { database: string };
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
  assert.equal(ds.url, "postgres:5432", "the datasource must reach the compose service named postgres");
  assert.equal(ds.jsonData.database, postgres.environment?.POSTGRES_DB);
});

Deno.test("the datasource connects as grafana_reader, the role sql/roles.sql creates, which reads every table", async () => {
  const roles = await read("sql/roles.sql");
  assert.equal(datasources.datasources[0]?.user, "grafana_reader");
  assert.match(roles, /CREATE ROLE grafana_reader LOGIN/);
  const granted = /GRANT SELECT ON TABLE ([\w, ]+) TO grafana_reader/.exec(roles)?.[1]?.split(/,\s*/) ?? [];
  const tables = [...(await read("sql/schema.sql")).matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/g)].map((m) =>
    m[1]
  );
  assert.ok(tables.length >= 4, `tables of sql/schema.sql: ${tables.join(", ")}`);
  for (const table of tables) assert.ok(granted.includes(table!), `sql/roles.sql does not grant SELECT on ${table}`);
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
    assert.match(sql, /\$__timeFilter\(\w+\)/, `${where} does not filter on the time range`);
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
  assert.match(String(customer.query), /SELECT customer_id FROM .*\bFROM readings\b.*\$__timeFilter\(recorded_at\)/s);
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

Deno.test("compose PostgreSQL initialises the database with sql/schema.sql, then sql/roles.sql", () => {
  const postgres = service("postgres");
  assert.equal(postgres.image, "postgres:15");
  const init = mounts("postgres").filter(([, container]) => container.startsWith("/docker-entrypoint-initdb.d/"));
  const bySource = new Map(init.map(([host, container]) => [host, container]));
  const schema = bySource.get("sql/schema.sql");
  const roles = bySource.get("sql/roles.sql");
  assert.ok(schema !== undefined, `sql/schema.sql is not mounted into initdb: ${JSON.stringify(init)}`);
  assert.ok(roles !== undefined, `sql/roles.sql is not mounted into initdb: ${JSON.stringify(init)}`);
  for (const file of [schema, roles]) {
    assert.match(file, /\/[^/]+\.sql$/, `initdb runs only *.sql (and *.sh) files: ${file}`);
  }
  assert.ok(schema < roles, `initdb runs files in name order: ${schema} must sort before ${roles}`);
  assert.equal(service("grafana").depends_on?.postgres?.condition, "service_healthy");
});
