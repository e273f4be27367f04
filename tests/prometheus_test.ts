/**
 * The monitoring stack for real: Debian's `prometheus`, started on 127.0.0.1:29090 with a
 * throw-away data folder, the shipped scrape jobs (prometheus/prometheus.yml, its targets pointed
 * at this test's programs and its intervals at 1 s) and the shipped alert rules (their `for`
 * shortened to {@link TEST_FOR}), scrapes a real consumer (metrics on 127.0.0.1:29464) and producer
 * (0.0.0.0:29465, as with the compose Prometheus) moving readings through the real Kafka and PostgreSQL. Then every PromQL query of the
 * pipeline-health dashboard, expanded as Grafana expands it (tests/support/grafana/promql.ts), must
 * return data through Prometheus' HTTP API, as tests/dashboard_queries_test.ts requires of the
 * Heartbeat Monitor's SQL; and a stopped consumer must turn `HeartbeatConsumerDown` pending, then
 * firing once its `for` has passed, as `/api/v1/alerts` reports.
 *
 * Needs Kafka, PostgreSQL and Debian's prometheus package (`.ci/run` installs it): skipped without
 * them, failed under `CI=true`.
 *
 * Requires `--allow-net=127.0.0.1:9092,127.0.0.1:5432,127.0.0.1:29090,127.0.0.1:29464,127.0.0.1:29465`,
 * `--allow-read`, `--allow-run` and `--allow-env=CI,PATH`.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  missingServices,
  reachable,
  serviceTest,
  spawnTask,
  testDatabase,
  testTopic,
  uniqueName,
  waitForJoin,
  waitUntil,
} from "./support/helpers.ts";
import {
  type ApiAlert,
  durationMs,
  type PrometheusConfig,
  prometheusMissing,
  type RangeSeries,
  readYaml,
  type RuleFile,
  ruleFiles,
  startPrometheus,
} from "./support/prometheus.ts";
import {
  expandPromQL,
  labelValuesQuery,
  loadHealthDashboard,
  promQueries,
  type PromVariableValue,
} from "./support/grafana/promql.ts";

const PROMETHEUS_PORT = 29090;
const CONSUMER_PORT = 29464;
const PRODUCER_PORT = 29465;
/** Scrape and rule evaluation interval of the test's Prometheus. */
const SCRAPE = "1s";
/** Every alert's `for` in the test's copy of the rules (the shipped ones wait minutes). */
const TEST_FOR = "5s";

const CONSUMER = `127.0.0.1:${CONSUMER_PORT}`;
const PRODUCER = `127.0.0.1:${PRODUCER_PORT}`;

/** prometheus/prometheus.yml with the test's intervals, and its jobs' targets replaced by this test's programs. */
async function testConfig(): Promise<PrometheusConfig> {
  const shipped = (await readYaml("prometheus/prometheus.yml")) as PrometheusConfig;
  const targets: Record<string, string> = { "heartbeat-consumer": CONSUMER, "heartbeat-producer": PRODUCER };
  assert.deepEqual(shipped.scrape_configs.map((j) => j.job_name).sort(), Object.keys(targets).sort());
  return {
    ...shipped,
    global: { ...shipped.global, scrape_interval: SCRAPE, evaluation_interval: SCRAPE },
    scrape_configs: shipped.scrape_configs.map((job) => ({
      ...job,
      static_configs: [{ targets: [targets[job.job_name]!] }],
    })),
  };
}

/** The shipped rule files, each alert's `for` shortened to {@link TEST_FOR}. */
async function testRules(): Promise<Record<string, RuleFile>> {
  const rules: Record<string, RuleFile> = {};
  for (const { path, rules: file } of await ruleFiles()) {
    rules[path.split("/").at(-1)!] = {
      groups: file.groups.map((g) => ({
        ...g,
        rules: g.rules.map((r) => r.for === undefined ? r : { ...r, for: TEST_FOR }),
      })),
    };
  }
  return rules;
}

const missing = [missingServices, prometheusMissing].filter((m) => m !== null).join(" and ") || null;

serviceTest(
  missing,
  "a real Prometheus scrapes the consumer and the producer: every pipeline-health query returns data, and a stopped consumer turns HeartbeatConsumerDown pending, then firing after its `for`",
  async (t) => {
    for (const port of [PROMETHEUS_PORT, CONSUMER_PORT, PRODUCER_PORT]) {
      assert.ok(!(await reachable("127.0.0.1", port)), `something already listens on 127.0.0.1:${port}`);
    }
    await using db = await testDatabase();
    await using topic = testTopic();
    await using consumer = await spawnTask("consumer", [], {
      DATABASE_URL: db.url,
      KAFKA_TOPIC: topic.name,
      KAFKA_GROUP_ID: uniqueName("prometheus-test"),
      KAFKA_ALERTS_TOPIC: "none",
      HEARTBEAT_CONSUMER_BATCH_WAIT_MS: "20",
      HEARTBEAT_CONSUMER_METRICS_PORT: String(CONSUMER_PORT),
    });
    await waitForJoin(consumer);
    await using producer = await spawnTask(
      "producer",
      ["--topic", topic.name, "--rate", "200", "--customers", "20", "--invalid-rate", "0.02"],
      // on every address, as `deno task dev` runs the programs for the compose Prometheus (host.docker.internal)
      { HEARTBEAT_PRODUCER_METRICS_PORT: String(PRODUCER_PORT), HEARTBEAT_METRICS_HOST: "0.0.0.0" },
    );
    await using prometheus = await startPrometheus({
      port: PROMETHEUS_PORT,
      config: await testConfig(),
      rules: await testRules(),
    });
    const why = () =>
      `\n--- consumer:\n${consumer.stderr().slice(-2000)}\n--- producer:\n${
        producer.stderr().slice(-2000)
      }\n--- prometheus:\n${prometheus.log().slice(-2000)}`;
    const instant = async (expr: string) =>
      (await prometheus.api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>("query", {
        query: expr,
      })).result;
    const alerts = async () => (await prometheus.api<{ alerts: ApiAlert[] }>("alerts")).alerts;

    await t.step("Prometheus scrapes both programs, and the consumer stores readings", async () => {
      await waitUntil("both targets up, the consumer ready and storing", async () => {
        const up = await instant('up{job=~"heartbeat-.*"} == 1');
        const stored = await instant("heartbeat_consumer_readings_stored_total > 0");
        const ready = await instant("heartbeat_consumer_ready == 1");
        return up.length === 2 && stored.length === 1 && ready.length === 1;
      }).catch((e) => assert.fail(`${e.message}${why()}`));
    });

    const dashboard = await loadHealthDashboard();
    const variables = dashboard.templating?.list ?? [];

    await t.step("the $instance variable lists the consumer and the producer", async () => {
      const instance = variables.find((v) => v.name === "instance");
      const query = instance === undefined ? null : labelValuesQuery(instance);
      assert.ok(query !== null, "$instance is a label_values() query");
      const series = await prometheus.api<Record<string, string>[]>("series", { "match[]": query.selector });
      const values = [...new Set(series.map((s) => s[query.label]))].sort();
      assert.deepEqual(values, [CONSUMER, PRODUCER]);
    });

    await t.step(
      "every panel query of the pipeline-health dashboard returns data, for All and for both instances",
      async () => {
        const queries = promQueries(dashboard);
        assert.ok(queries.length >= 20, `${queries.length} queries`);
        const settings: [string, Record<string, PromVariableValue>][] = [
          ["All", { instance: { all: true } }],
          ["both instances", { instance: { values: [CONSUMER, PRODUCER] } }],
        ];
        let pending = settings.flatMap(([label, values]) => queries.map((query) => ({ label, values, query })));
        const empty = new Map<string, string>();
        const deadline = Date.now() + 60_000;
        while (pending.length > 0 && Date.now() < deadline) {
          const still: typeof pending = [];
          for (const item of pending) {
            const to = Date.now(), from = to - 60_000;
            const { expr, stepMs } = expandPromQL(item.query, {
              from,
              to,
              scrapeInterval: SCRAPE,
              variables,
              values: item.values,
            });
            const { result } = await prometheus.api<{ result: RangeSeries[] }>("query_range", {
              query: expr,
              start: String(from / 1000),
              end: String(to / 1000),
              step: String(stepMs / 1000),
            });
            const points = result.flatMap((s) => s.values).filter(([, v]) => Number.isFinite(Number(v)));
            if (points.length === 0) {
              still.push(item);
              empty.set(`${item.query.name} (${item.label})`, expr);
            } else {
              empty.delete(`${item.query.name} (${item.label})`);
            }
          }
          pending = still;
          if (pending.length > 0) await new Promise((r) => setTimeout(r, 1000));
        }
        assert.deepEqual(
          [...empty].map(([name, expr]) => `${name}: ${expr}`),
          [],
          `queries without data after 60 s${why()}`,
        );
      },
    );

    await t.step("HeartbeatConsumerDown is quiet while the consumer runs", async () => {
      const down = (await alerts()).filter((a) => a.labels.alertname === "HeartbeatConsumerDown");
      assert.deepEqual(down, []);
    });

    await t.step("a stopped consumer turns HeartbeatConsumerDown pending, then firing after its `for`", async () => {
      const forMs = durationMs(TEST_FOR), scrapeMs = durationMs(SCRAPE);
      // its endpoint may close a moment before the process exits: the alert cannot be active before the signal
      const signalledAt = Date.now();
      consumer.kill("SIGTERM");
      assert.equal((await consumer.status).code, 0, why());
      const stoppedAt = Date.now();
      let pendingSeen: ApiAlert | undefined, firing: ApiAlert | undefined, firingSeenAt = 0;
      // stale after a failed scrape, evaluated on the next evaluation, then `for`, with room for a slow machine
      const deadline = stoppedAt + 2 * scrapeMs + forMs + 15_000;
      while (firing === undefined && Date.now() < deadline) {
        for (const alert of await alerts()) {
          if (alert.labels.alertname !== "HeartbeatConsumerDown") continue;
          assert.equal(alert.labels.instance, CONSUMER, JSON.stringify(alert));
          assert.equal(alert.labels.severity, "critical");
          if (alert.state === "pending") pendingSeen ??= alert;
          if (alert.state === "firing") {
            firing = alert;
            firingSeenAt = Date.now();
          }
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(pendingSeen !== undefined, `HeartbeatConsumerDown was never pending${why()}`);
      assert.ok(
        firing !== undefined,
        `HeartbeatConsumerDown not firing ${(Date.now() - stoppedAt) / 1000} s after the stop${why()}`,
      );
      const activeAt = Date.parse(firing.activeAt);
      assert.ok(activeAt >= signalledAt - scrapeMs, `active since ${firing.activeAt}, before the stop`);
      assert.ok(firingSeenAt - activeAt >= forMs, `firing ${firingSeenAt - activeAt} ms after it became active`);
      assert.match(firing.annotations.summary ?? "", new RegExp(`consumer ${CONSUMER} down`));

      // the readiness panel shows the stopped consumer as not ready (0), not as a gap
      const readiness = promQueries(dashboard).find((q) => q.name.includes("Readiness per instance"));
      assert.ok(readiness !== undefined);
      const { expr } = expandPromQL(readiness, {
        from: Date.now() - 60_000,
        to: Date.now(),
        scrapeInterval: SCRAPE,
        variables,
        values: { instance: { all: true } },
      });
      assert.deepEqual((await instant(expr)).map((s) => [s.metric.instance, s.value[1]]), [[CONSUMER, "0"]]);
    });

    producer.kill("SIGTERM");
    assert.equal((await producer.status).code, 0, why());
  },
  180_000,
);
