/**
 * Static checks of the Prometheus side of the monitoring stack: the pipeline-health dashboard,
 * its provisioned Prometheus datasource, prometheus/prometheus.yml, the alert rules and the
 * compose `prometheus` service must agree with each other and with the metrics the programs
 * export (their registries, scraped in-process). Nothing here needs a server: tests/
 * prometheus_test.ts runs every query on a real Prometheus, tests/alert_rules_test.ts the rules'
 * unit tests. Where the Docker compose plugin exists, `docker compose config` validates the file.
 *
 * Requires `--allow-read`, `--allow-run` (docker, when present) and `--allow-env=CI,PATH`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { consumerOptions, parseConfig, producerOptions } from "../lib/config/mod.ts";
import { REASON_CODES } from "../lib/domain/reading.ts";
import { ConsumerMetrics, ProducerMetrics } from "../lib/ops/metrics.ts";
import { type PrometheusConfig, readYaml, ROOT, ruleFiles, which } from "./support/prometheus.ts";
import { DASHBOARD_URL } from "./support/grafana/queries.ts";
import {
  expandPromQL,
  HEALTH_DASHBOARD_URL,
  labelValuesQuery,
  loadHealthDashboard,
  type PromDashboard,
  promQueries,
} from "./support/grafana/promql.ts";

interface ComposeService {
  image: string;
  command?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  extra_hosts?: string[];
  depends_on?: Record<string, { condition: string }>;
}

interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

interface DatasourceProvisioning {
  datasources: { uid: string; type: string; url: string; isDefault?: boolean; jsonData?: Record<string, unknown> }[];
}

const dashboard = await loadHealthDashboard();
const monitor = JSON.parse(
  await Deno.readTextFile(new URL("grafana/dashboards/heartbeat-monitor.json", ROOT)),
) as PromDashboard;
const compose = (await readYaml("docker-compose.yml")) as Compose;
const prometheusConfig = (await readYaml("prometheus/prometheus.yml")) as PrometheusConfig;
const datasources = (await readYaml("grafana/provisioning/datasources/prometheus.yaml")) as DatasourceProvisioning;
const queries = promQueries(dashboard);
const DS = { type: "prometheus", uid: "heartbeat-prometheus" };

function service(name: string): ComposeService {
  const found = compose.services[name];
  assert.ok(found !== undefined, `docker-compose.yml has no service '${name}'`);
  return found;
}

/** A service's bind mounts as [host path, container path], with `./` and options stripped. */
const mounts = (name: string): [string, string][] =>
  (service(name).volumes ?? []).map((v) => {
    const [host = "", container = ""] = v.split(":");
    return [host.replace(/^\.\//, ""), container];
  });

/** Every metric name a PromQL expression names (ours and the process metrics). */
const metricNames = (expr: string) => [...expr.matchAll(/\b((?:heartbeat|process|deno)_\w+)/g)].map((m) => m[1]!);

Deno.test("the Prometheus datasource is provisioned on the compose prometheus service, at the scrape interval", () => {
  assert.equal(datasources.datasources.length, 1);
  const [ds] = datasources.datasources;
  assert.deepEqual({ type: ds?.type, uid: ds?.uid }, DS);
  assert.notEqual(ds?.isDefault, true, "the PostgreSQL datasource stays the default");
  assert.equal(ds?.url, "${GRAFANA_PROMETHEUS_URL}");
  assert.equal(
    service("grafana").environment?.GRAFANA_PROMETHEUS_URL,
    "${GRAFANA_PROMETHEUS_URL:-http://prometheus:9090}",
  );
  assert.ok(service("prometheus").ports?.includes("127.0.0.1:9090:9090"));
  assert.equal(service("grafana").depends_on?.prometheus?.condition, "service_healthy");
  // Grafana's $__rate_interval is at least 4 scrape intervals: it must know the real one
  assert.equal(ds?.jsonData?.timeInterval, prometheusConfig.global?.scrape_interval);
});

Deno.test("compose runs Prometheus on prometheus/prometheus.yml with the rules mounted where it loads them", () => {
  const prometheus = service("prometheus");
  assert.match(prometheus.image, /^prom\/prometheus:v\d+\.\d+\.\d+$/, "a pinned image");
  const config = /^--config\.file=(.+)$/.exec(prometheus.command?.find((c) => c.startsWith("--config.file=")) ?? "");
  assert.ok(config !== null, "--config.file is set");
  const byHost = new Map(mounts("prometheus"));
  assert.equal(byHost.get("prometheus/prometheus.yml"), config[1]);
  const rulesDir = byHost.get("prometheus/rules");
  assert.ok(rulesDir !== undefined, "prometheus/rules is mounted");
  assert.deepEqual(prometheusConfig.rule_files, [`${rulesDir}/*.yml`]);
  const data = prometheus.volumes?.find((v) => v.endsWith(":/prometheus"))?.split(":")[0];
  assert.ok(data !== undefined && compose.volumes !== undefined && data in compose.volumes, "a named data volume");
  assert.ok(prometheus.command?.includes("--storage.tsdb.path=/prometheus"));
});

Deno.test("compose Prometheus scrapes the programs on the host, at their default metrics ports", () => {
  assert.ok(service("prometheus").extra_hosts?.includes("host.docker.internal:host-gateway"));
  const defaults = (table: typeof consumerOptions | typeof producerOptions) => {
    const parsed = parseConfig(table, { args: [], env: () => undefined });
    assert.ok(!parsed.help);
    return parsed.config.metricsPort;
  };
  const jobs = new Map(prometheusConfig.scrape_configs.map((j) => [j.job_name, j]));
  const expected: [string, number][] = [
    ["heartbeat-consumer", defaults(consumerOptions)],
    ["heartbeat-producer", defaults(producerOptions)],
  ];
  assert.deepEqual([...jobs.keys()].sort(), expected.map(([job]) => job).sort());
  for (const [job, port] of expected) {
    const targets = jobs.get(job)?.static_configs?.flatMap((c) => c.targets) ?? [];
    assert.deepEqual(targets, [`host.docker.internal:${port}`], job);
  }
});

Deno.test("the compose file validates with `docker compose config` where the compose plugin exists", async () => {
  // the parse above holds everywhere; Docker's own check where it can run (no engine needed)
  const docker = which("docker");
  const plugin = docker === null
    ? false
    : (await new Deno.Command(docker, { args: ["compose", "version"], stdout: "null", stderr: "null" }).output())
      .success;
  if (!plugin) return;
  const { success, stderr } = await new Deno.Command(docker!, {
    args: ["compose", "config", "--quiet"],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
});

Deno.test("every panel, target and variable of the pipeline-health dashboard uses the Prometheus datasource", () => {
  assert.equal(dashboard.uid, "heartbeat-pipeline-health");
  assert.equal(dashboard.title, "Heartbeat pipeline health");
  for (const panel of dashboard.panels) {
    assert.deepEqual(panel.datasource, DS, `panel ${panel.id}`);
    assert.ok((panel.targets ?? []).length > 0, `panel ${panel.id} has no query`);
    for (const target of panel.targets ?? []) assert.deepEqual(target.datasource, DS, `panel ${panel.id}`);
  }
  for (const variable of dashboard.templating?.list ?? []) assert.deepEqual(variable.datasource, DS);
});

Deno.test("panel ids are unique, and panels fit the 24-column grid without overlapping", () => {
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const [i, a] of dashboard.panels.entries()) {
    const p = a.gridPos;
    assert.ok(p.x >= 0 && p.w >= 1 && p.h >= 1 && p.x + p.w <= 24, `panel ${a.id}: ${JSON.stringify(p)}`);
    for (const b of dashboard.panels.slice(i + 1)) {
      const q = b.gridPos;
      const overlap = p.x < q.x + q.w && q.x < p.x + p.w && p.y < q.y + q.h && q.y < p.y + p.h;
      assert.ok(!overlap, `panels ${a.id} and ${b.id} overlap`);
    }
  }
});

Deno.test("$instance lists the scraped heartbeat processes, and every query but the alert count filters on it", () => {
  const instance = dashboard.templating?.list.find((v) => v.name === "instance");
  assert.ok(instance !== undefined, "no $instance variable");
  assert.equal(instance.multi, true);
  assert.equal(instance.includeAll, true);
  assert.deepEqual(labelValuesQuery(instance), { selector: 'up{job=~"heartbeat-.*"}', label: "instance" });
  for (const query of queries) {
    if (/^count\(ALERTS\{/.test(query.expr)) continue;
    const selectors = [...query.expr.matchAll(/\b(?:heartbeat_\w+|process_\w+|up)\{([^}]*)\}/g)];
    assert.ok(selectors.length > 0, `${query.name}: no selector`);
    for (const [selector, labels] of selectors) {
      assert.match(labels ?? "", /instance=~"\$instance"/, `${query.name}: ${selector}`);
    }
  }
});

Deno.test("every query expands as Grafana expands it, with no variable left", () => {
  const variables = dashboard.templating?.list ?? [];
  for (const query of queries) {
    const { expr } = expandPromQL(query, {
      from: 0,
      to: 15 * 60_000,
      scrapeInterval: "5s",
      variables,
      values: { instance: { values: ["host.docker.internal:9464", "host.docker.internal:9465"] } },
    });
    assert.doesNotMatch(expr, /\$/, query.name);
    if (query.expr.includes("$instance")) {
      assert.match(expr, /instance=~"\(host\\\\\.docker\\\\\.internal:9464\|host\\\\\.docker\\\\\.internal:9465\)"/);
    }
    if (query.expr.includes("$__rate_interval")) assert.match(expr, /\[20s\]/, `${query.name}: 4 scrape intervals`);
  }
});

Deno.test("the dashboard shows what an operator needs: throughput, lag, latency, database trouble, restarts, readiness, memory and CPU", async (t) => {
  const needs: [string, RegExp][] = [
    ["readings/s produced", /rate\(heartbeat_producer_messages_acknowledged_total/],
    ["readings/s consumed", /rate\(heartbeat_consumer_messages_consumed_total/],
    ["readings/s stored", /rate\(heartbeat_consumer_readings_stored_total/],
    ["dead-lettered by reason", /sum by \(reason\) \(rate\(heartbeat_consumer_rejected_total/],
    ["lag per partition", /^heartbeat_consumer_lag_messages\{/],
    ["lag trend", /deriv\(heartbeat_consumer_lag_messages/],
    ["batch size p50", /histogram_quantile\(0\.5, .*heartbeat_consumer_batch_size_bucket/],
    ["batch size p99", /histogram_quantile\(0\.99, .*heartbeat_consumer_batch_size_bucket/],
    ["write time p50", /histogram_quantile\(0\.5, .*heartbeat_consumer_db_write_seconds_bucket/],
    ["write time p99", /histogram_quantile\(0\.99, .*heartbeat_consumer_db_write_seconds_bucket/],
    ["end-to-end p50", /histogram_quantile\(0\.5, .*heartbeat_consumer_end_to_end_delay_seconds_bucket/],
    ["end-to-end p99", /histogram_quantile\(0\.99, .*heartbeat_consumer_end_to_end_delay_seconds_bucket/],
    ["database retries", /heartbeat_consumer_db_write_retries_total/],
    ["database outages", /heartbeat_consumer_db_outages_total/],
    ["consumer restarts", /heartbeat_consumer_kafka_restarts_total/],
    ["process restarts", /changes\(process_start_time_seconds/],
    ["consumer readiness per instance", /^heartbeat_consumer_ready\{/],
    ["producer readiness per instance", /^heartbeat_producer_ready\{/],
    ["RSS per process", /^process_resident_memory_bytes\{/],
    ["CPU per process", /^rate\(process_cpu_seconds_total\{/],
  ];
  for (const [need, pattern] of needs) {
    await t.step(need, () => assert.ok(queries.some((q) => pattern.test(q.expr)), `no query matches ${pattern}`));
  }
});

Deno.test("every metric the dashboard and the alert rules name is one the programs export", async () => {
  const exported = new Set<string>();
  for (const registry of [new ConsumerMetrics({ reasons: REASON_CODES }), new ProducerMetrics()]) {
    for (const [, name, type] of (await registry.metrics()).matchAll(/^# TYPE (\w+) (\w+)$/gm)) {
      exported.add(name!);
      if (type === "histogram") {
        for (const suffix of ["_bucket", "_sum", "_count"]) exported.add(`${name}${suffix}`);
      }
    }
  }
  const rules = (await ruleFiles()).flatMap((f) => f.rules.groups.flatMap((g) => g.rules));
  const named = [
    ...queries.map((q) => ({ where: q.name, expr: q.expr })),
    ...rules.map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr })),
  ];
  for (const { where, expr } of named) {
    for (const name of metricNames(expr)) {
      assert.ok(exported.has(name), `${where} names ${name}, which nothing exports`);
    }
  }
  // and the jobs they select are the scrape jobs of prometheus/prometheus.yml
  const jobs = prometheusConfig.scrape_configs.map((j) => j.job_name);
  for (const { where, expr } of named) {
    for (const [, op, value] of expr.matchAll(/\bjob(=~?)"([^"]*)"/g)) {
      const matches = op === "=" ? jobs.includes(value!) : jobs.some((j) => new RegExp(`^(?:${value})$`).test(j));
      assert.ok(matches, `${where} selects job${op}"${value}", which no scrape job is`);
    }
  }
});

Deno.test("the readings dashboard and the pipeline-health dashboard link to each other, keeping the time range", () => {
  const link = (from: PromDashboard, to: PromDashboard) => from.links?.find((l) => l.url === `/d/${to.uid}`);
  for (const [from, to] of [[monitor, dashboard], [dashboard, monitor]] as const) {
    const found = link(from, to);
    assert.ok(found !== undefined, `${from.title} has no link to /d/${to.uid}`);
    assert.equal(found.type, "link");
    assert.equal(found.keepTime, true);
  }
});

Deno.test("every provisioned dashboard has its queries run by a test: the Monitor's SQL on PostgreSQL, the health dashboard's PromQL on Prometheus", async () => {
  // tests/dashboard_queries_test.ts loads DASHBOARD_URL, tests/prometheus_test.ts HEALTH_DASHBOARD_URL
  const runners = new Map([
    [DASHBOARD_URL.href, "grafana-postgresql-datasource"],
    [HEALTH_DASHBOARD_URL.href, "prometheus"],
  ]);
  const dir = new URL("grafana/dashboards/", ROOT);
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (entry.name.endsWith(".json")) files.push(entry.name);
  assert.deepEqual(
    files.map((f) => new URL(f, dir).href).sort(),
    [...runners.keys()].sort(),
    "a dashboard no test runs the queries of",
  );
  for (const [url, type] of runners) {
    const board = JSON.parse(await Deno.readTextFile(new URL(url))) as PromDashboard;
    const types = new Set(board.panels.flatMap((p) => (p.targets ?? []).map((t) => t.datasource?.type)));
    assert.deepEqual([...types], [type], `${board.title}: every query on ${type}, the kind its test runs`);
  }
});
