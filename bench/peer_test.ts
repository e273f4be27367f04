import assert from "node:assert/strict";
import {
  bestRun,
  configLabel,
  connectorProperties,
  countSpan,
  envelope,
  parsePeerConfigs,
  PEER_REST_PORT,
  type PeerConfig,
  peerCopyLine,
  type PeerReading,
  peerReport,
  type PeerResults,
  type PeerRun,
  propertiesText,
  READING_SCHEMA,
  steadyRate,
  workerProperties,
} from "./peer.ts";

const reading: PeerReading = {
  customerId: "CUST-042",
  recordedAt: "2026-12-06T05:00:01.123456Z",
  heartRate: 72.5,
  isAnomaly: true,
};

Deno.test("envelope() gives JsonConverter's schema and payload with every field as the table wants it", async (t) => {
  const parsed = JSON.parse(envelope(reading));
  const cases: [string, unknown, unknown][] = [
    ["the schema is the reading's struct", parsed.schema, READING_SCHEMA],
    ["only schema and payload at the top", Object.keys(parsed), ["schema", "payload"]],
    ["customer_id as sent", parsed.payload.customer_id, "CUST-042"],
    ["recorded_at keeps its microseconds", parsed.payload.recorded_at, "2026-12-06T05:00:01.123456Z"],
    ["heart_rate a number with its fraction", parsed.payload.heart_rate, 72.5],
    ["is_anomaly a boolean", parsed.payload.is_anomaly, true],
    [
      "the payload's fields are the schema's, in its order",
      Object.keys(parsed.payload),
      READING_SCHEMA.fields.map((f) => f.field),
    ],
  ];
  for (const [name, actual, expected] of cases) {
    await t.step(name, () => assert.deepEqual(actual, expected));
  }
  await t.step("recorded_at is Debezium's ZonedTimestamp (timestamptz), not Connect's millisecond Timestamp", () => {
    const field = READING_SCHEMA.fields.find((f) => f.field === "recorded_at");
    assert.equal(field?.type, "string");
    assert.equal("name" in field! ? field.name : undefined, "io.debezium.time.ZonedTimestamp");
  });
});

Deno.test("peerCopyLine() writes the peer table's COPY text and refuses a customer id COPY would split", () => {
  assert.equal(peerCopyLine(reading), "CUST-042\t2026-12-06T05:00:01.123456Z\t72.5\tt\n");
  assert.equal(peerCopyLine({ ...reading, isAnomaly: false, heartRate: 60 }).endsWith("\t60\tf\n"), true);
  assert.throws(() => peerCopyLine({ ...reading, customerId: "A\tB" }), RangeError);
});

Deno.test("parsePeerConfigs() reads batch sizes with their flags and refuses the rest", async (t) => {
  const ok: [string, Omit<PeerConfig, "tasks">[]][] = [
    ["500", [{ batchSize: 500, unnest: false, rewrite: false }]],
    ["500, 5000:unnest", [{ batchSize: 500, unnest: false, rewrite: false }, {
      batchSize: 5000,
      unnest: true,
      rewrite: false,
    }]],
    ["2000:rewrite:unnest", [{ batchSize: 2000, unnest: true, rewrite: true }]],
  ];
  for (const [text, expected] of ok) {
    await t.step(
      `"${text}"`,
      () => assert.deepEqual(parsePeerConfigs(text, 2), expected.map((c) => ({ ...c, tasks: 2 }))),
    );
  }
  for (const text of ["0", "-500", "1.5", "abc", "500:fast", "500:unnest:"]) {
    await t.step(`"${text}" is refused`, () => assert.throws(() => parsePeerConfigs(text, 1), RangeError));
  }
});

Deno.test("connectorProperties() upserts on the primary key with the configuration's batch and statement", async (t) => {
  const where = { name: "n", topic: "t", host: "127.0.0.1", port: 5432, database: "db", user: "postgres" };
  const cases: [string, PeerConfig, Record<string, unknown>][] = [
    ["a small batch keeps the consumer's 500 records a poll", {
      batchSize: 200,
      unnest: false,
      rewrite: false,
      tasks: 1,
    }, {
      "batch.size": 200,
      "consumer.override.max.poll.records": 500,
      "dialect.postgres.unnest.insert.enabled": false,
      "connection.url": "jdbc:postgresql://127.0.0.1:5432/db",
    }],
    ["a batch above 500 raises max.poll.records, which caps it", {
      batchSize: 5000,
      unnest: true,
      rewrite: false,
      tasks: 2,
    }, {
      "batch.size": 5000,
      "consumer.override.max.poll.records": 5000,
      "dialect.postgres.unnest.insert.enabled": true,
      "tasks.max": 2,
    }],
    ["rewrite goes on the JDBC URL", { batchSize: 2000, unnest: false, rewrite: true, tasks: 1 }, {
      "connection.url": "jdbc:postgresql://127.0.0.1:5432/db?reWriteBatchedInserts=true",
    }],
  ];
  for (const [name, config, expected] of cases) {
    await t.step(name, () => {
      const p = connectorProperties(config, where);
      for (const [k, v] of Object.entries(expected)) assert.equal(p[k as keyof typeof p], v, k);
      assert.equal(p["insert.mode"], "upsert");
      assert.equal(p["primary.key.mode"], "record_value");
      assert.equal(p["primary.key.fields"], "customer_id,recorded_at");
    });
  }
});

Deno.test("workerProperties() reads the envelope with schemas and lets the connector override its consumer", () => {
  const text = propertiesText(workerProperties({ broker: "127.0.0.1:9092", pluginPath: "/p", offsetsFile: "/o" }));
  for (
    const line of [
      "value.converter=org.apache.kafka.connect.json.JsonConverter",
      "value.converter.schemas.enable=true",
      "connector.client.config.override.policy=All",
      "listeners=http://127.0.0.1:18083",
    ]
  ) assert.match(text, new RegExp(`^${line.replaceAll(".", "\\.")}$`, "m"));
  assert.equal(propertiesText({ a: "C:\\x" }), "a=C:\\\\x\n");
});

Deno.test("steadyRate() is the rate between 10 % and 90 % of the rows, interpolated between count samples", async (t) => {
  const cases: [string, [number, number][], number, number][] = [
    ["a constant rate", [[0, 0], [1000, 50], [2000, 100]], 100, 50],
    // 10 rows at 1.1 s (between 0 at 1 s and 100 at 2 s), 90 rows at 1.9 s: 80 rows in 0.8 s
    ["both moments inside one interval", [[1000, 0], [2000, 100]], 100, 100],
    // a slow start and end, fast middle: 10 at 2 s, 90 at 3 s
    ["startup and tail left out", [[0, 0], [2000, 10], [3000, 90], [10_000, 100]], 100, 80],
    ["not reaching 90 %", [[0, 0], [1000, 50]], 100, NaN],
    ["10 % passed before the first sample: cannot be placed", [[0, 20], [1000, 100]], 100, NaN],
    ["no samples", [], 100, NaN],
  ];
  for (const [name, samples, total, expected] of cases) {
    await t.step(name, () => {
      const got = steadyRate(samples, total);
      if (Number.isNaN(expected)) assert.ok(Number.isNaN(got), `got ${got}`);
      else assert.ok(Math.abs(got - expected) < 1e-9, `got ${got}, expected ${expected}`);
    });
  }
});

Deno.test("countSpan() times the first rows and the last, and the rate between those samples", async (t) => {
  await t.step("rows seen at 8 s (1,000), all 11,000 at 10 s", () => {
    assert.deepEqual(countSpan([[250, 0], [8000, 1000], [9000, 6000], [10_000, 11_000]], 11_000), {
      firstRowMs: 8000,
      lastRowMs: 10_000,
      spanRate: 5000,
    });
  });
  await t.step("never complete: no rate", () => {
    const s = countSpan([[0, 0], [1000, 10]], 100);
    assert.equal(s.firstRowMs, 1000);
    assert.ok(Number.isNaN(s.lastRowMs) && Number.isNaN(s.spanRate));
  });
  await t.step("all rows in the first sample with rows: no interval to measure", () => {
    assert.ok(Number.isNaN(countSpan([[0, 0], [500, 100]], 100).spanRate));
  });
});

const run = (label: string, perSecond: number, tasks = 1, verified = true): PeerRun => ({
  label,
  config: { batchSize: 500, unnest: false, rewrite: false, tasks },
  rows: 100_000,
  wallS: 100_000 / perSecond,
  perSecond,
  steady10to90PerSecond: perSecond * 2,
  steadyPerSecond: perSecond * 1.5,
  firstRowAfterS: 7,
  workerCpuS: 12,
  workerPctOfCore: 140,
  peakMiB: 600,
  verified,
});

Deno.test("bestRun() takes the fastest verified run among those with the first task count", async (t) => {
  const cases: [string, PeerRun[], string | undefined][] = [
    ["the fastest", [run("a", 10_000), run("b", 12_000), run("c", 11_000)], "b"],
    ["a wrong row count is never best", [run("a", 10_000), run("b", 20_000, 1, false)], "a"],
    ["a run with another task count is not in the grid", [run("a", 10_000), run("b", 20_000, 2)], "a"],
    ["no runs", [], undefined],
  ];
  for (const [name, runs, expected] of cases) await t.step(name, () => assert.equal(bestRun(runs)?.label, expected));
});

Deno.test("peerReport() prints ours ÷ peer from process start and steady beside each one's ÷ its ceiling", () => {
  const best = run("batch 500, 1 task", 10_000);
  const results: PeerResults = {
    peer: "p",
    topic: { name: "t", messages: 100_000, meanEnvelopeBytes: 460, compression: "gzip" },
    ceiling: { before: 200_000, after: 200_000, perSecond: 200_000, rows: 100_000 },
    runs: [best, run("batch 500, 2 tasks", 8_000, 2)],
    best: best.label,
  };
  const rows = peerReport(results, [
    { consumers: 1, readingsPerSecond: 50_000, steadyReadingsPerSecond: 60_000 },
    { consumers: 2, readingsPerSecond: 40_000, steadyReadingsPerSecond: 44_000 },
  ], 80_000);
  const row = (prefix: string) => rows.find((r) => r[0]!.startsWith(prefix));
  assert.match(row("peer: COPY ceiling")![2]!, /our ceiling 80,000 rows\/s is 0\.40× of it/);
  assert.match(row("peer: batch 500, 1 task (best)")![1]!, /^10,000 rows\/s$/);
  const one = row("ours ÷ peer, 1 consumer ÷ 1 task")!;
  assert.equal(one[1], "5.00×");
  assert.match(one[2]!, /steady 4\.00× \(60,000 ÷ 15,000\); ours ÷ our ceiling 0\.63×, peer ÷ its ceiling 0\.050×/);
  assert.equal(row("ours ÷ peer, 2 consumers ÷ 2 tasks")?.[1], "5.00×");
});

Deno.test("configLabel() names the batch, the statement and the tasks", () => {
  assert.equal(
    configLabel({ batchSize: 5000, unnest: true, rewrite: false, tasks: 2 }),
    "batch 5,000 + unnest, 2 tasks",
  );
  assert.equal(
    configLabel({ batchSize: 500, unnest: false, rewrite: true, tasks: 1 }),
    "batch 500 + reWriteBatchedInserts, 1 task",
  );
});

Deno.test("deno task bench and bench.ts's shebang allow the peer's worker, its fetch script and its REST port", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const task: string = config.tasks.bench;
  const shebang = (await Deno.readTextFile(new URL("./bench.ts", import.meta.url))).split("\n")[0]!;
  const flags = (words: string) => words.split(/\s+/).filter((w) => w.startsWith("--allow-") || w === "--ignore-env");
  assert.deepEqual(flags(shebang), flags(task), "the shebang's permissions are the task's");
  const value = (name: string) => flags(task).find((f) => f.startsWith(`${name}=`))?.split("=")[1]?.split(",") ?? [];
  assert.ok(value("--allow-net").includes(`127.0.0.1:${PEER_REST_PORT}`));
  for (const program of ["java", "bash"]) assert.ok(value("--allow-run").includes(program), program);
});
