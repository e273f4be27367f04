/**
 * Time partitions (sql/migrations/002, `heartbeat_maintain()`), on the real PostgreSQL: where
 * readings land, what the maintenance step makes, moves and drops (and what a dry run says it
 * would), retention that never deletes a row but by dropping a whole partition, replays that stay
 * single, a lock held elsewhere, the consumer's run at start, and the upgrade of a database of the
 * old unpartitioned schema full of data: every row kept, the pipeline writing on, every dashboard
 * query answering.
 *
 * Requires `--allow-net=127.0.0.1:9092,127.0.0.1:5432`, `--allow-read`, `--allow-run` and `--allow-env=CI`.
 */
import assert from "node:assert/strict";
// @ts-types="@types/pg"
import pg from "pg";
import {
  ensureDatabase,
  migrateDatabase,
  type PartitionAction,
  Repository,
  SQL_MIGRATIONS,
  SQL_ROLES,
  type StoredReading,
} from "../lib/storage/mod.ts";
import { dashboardQueries, expandQuery, loadDashboard } from "./support/grafana/queries.ts";
import {
  dropDatabase,
  integrationTest,
  PG_SERVER,
  producerArgs,
  spawnTask,
  testDatabase,
  testTopic,
  uniqueName,
  waitUntil,
} from "./support/helpers.ts";

const DAY = 86_400_000;
const dayName = (ms: number) => new Date(ms).toISOString().slice(0, 10).replaceAll("-", "");
const today = () => Math.floor(Date.now() / DAY) * DAY;

function reading(customer: string, at: string, offset: number): StoredReading {
  const heartRate = 60 + (offset % 40);
  return {
    customerId: customer,
    recordedAt: at,
    recordedAtMs: Date.parse(at),
    heartRate,
    isAnomaly: false,
    category: "normal",
    reportedAnomaly: null,
    readingId: null,
    partition: 0,
    offset: String(offset),
  };
}

/** Where each reading sits: partition name by `customer_id/recorded_at`. */
async function placement(query: (sql: string) => Promise<{ k: string; p: string }[]>): Promise<Map<string, string>> {
  const rows = await query(
    "SELECT customer_id || '/' || to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS k, tableoid::regclass::text AS p FROM readings",
  );
  return new Map(rows.map((r) => [r.k, r.p]));
}

const actions = (list: PartitionAction[], action: PartitionAction["action"]) =>
  list.filter((a) => a.action === action).map((a) => a.partition).sort();

integrationTest(
  "a fresh database has partitions from yesterday to 7 days ahead and a default one, and readings land in their day",
  async () => {
    await using db = await testDatabase();
    const names = (await db.query<{ name: string }>("SELECT name FROM heartbeat_partition_list('readings')"))
      .map((r) => r.name);
    const expected = [
      "readings_default",
      ...Array.from({ length: 9 }, (_, k) => `readings_p${dayName(today() + (k - 1) * DAY)}`),
    ];
    assert.deepEqual(names.sort(), expected.sort());
    const now = new Date().toISOString();
    await db.repository.writeBatch([reading("CUST-001", now, 1)], []);
    const where = await placement((sql) => db.query(sql));
    assert.equal(where.get(`CUST-001/${now.slice(0, 10)}`), `readings_p${dayName(today())}`);
    // the rollup is partitioned the same way
    const rollup = await db.query<{ p: string }>("SELECT tableoid::regclass::text AS p FROM readings_5s");
    assert.deepEqual(rollup, [{ p: `readings_5s_p${dayName(today())}` }]);
  },
);

integrationTest(
  "a reading for a day with no partition is stored in the default one, moved out by maintenance, and its replay stays one row",
  async () => {
    await using db = await testDatabase();
    const far = new Date(today() + 60 * DAY + 3_600_000).toISOString(); // beyond the premade days
    const first = await db.repository.writeBatch([reading("CUST-002", far, 7)], []);
    assert.equal(first.inserted, 1);
    assert.equal((await placement((sql) => db.query(sql))).get(`CUST-002/${far.slice(0, 10)}`), "readings_default");

    const dry = await db.repository.maintainPartitions({ dryRun: true });
    assert.deepEqual(actions(dry, "move-default"), [
      `readings_5s_p${dayName(Date.parse(far))}`,
      `readings_p${dayName(Date.parse(far))}`,
    ]);
    assert.equal(
      (await placement((sql) => db.query(sql))).get(`CUST-002/${far.slice(0, 10)}`),
      "readings_default",
      "a dry run moves nothing",
    );

    const done = await db.repository.maintainPartitions();
    assert.deepEqual(actions(done, "move-default"), actions(dry, "move-default"));
    assert.equal(
      (await placement((sql) => db.query(sql))).get(`CUST-002/${far.slice(0, 10)}`),
      `readings_p${dayName(Date.parse(far))}`,
    );
    const again = await db.repository.writeBatch([reading("CUST-002", far, 7)], []);
    assert.deepEqual([again.inserted, again.duplicates], [0, 1]);
    const [n] = await db.query<{ readings: number; rollup: number }>(
      "SELECT (SELECT count(*)::int FROM readings) AS readings, (SELECT sum(readings)::int FROM readings_5s) AS rollup",
    );
    assert.deepEqual(n, { readings: 1, rollup: 1 });
    assert.deepEqual(await db.repository.maintainPartitions(), [], "a second run finds nothing to do");
  },
);

integrationTest(
  "retention drops whole partitions older than the window and nothing else; a dry run drops nothing",
  async () => {
    await using db = await testDatabase();
    const rows = Array.from(
      { length: 9 },
      (_, k) => reading("CUST-003", new Date(today() + (k - 1) * DAY + 60_000).toISOString(), k),
    );
    await db.repository.writeBatch(rows, []);
    // 31 days on, with a window of 30: the partitions of yesterday and today are past it
    const at = new Date(today() + 31 * DAY + 3_600_000).toISOString();
    const before = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM readings");
    const dry = await db.repository.maintainPartitions({ at, dryRun: true });
    const dropped = [`readings_p${dayName(today() - DAY)}`, `readings_p${dayName(today())}`];
    assert.deepEqual(
      actions(dry, "drop"),
      [...dropped, ...dropped.map((d) => d.replace("readings_", "readings_5s_"))].sort(),
    );
    assert.deepEqual(await db.query("SELECT count(*)::int AS n FROM readings"), before, "a dry run drops nothing");

    const done = await db.repository.maintainPartitions({ at });
    assert.deepEqual(actions(done, "drop"), actions(dry, "drop"));
    const left = (await db.query<{ name: string }>("SELECT name FROM heartbeat_partition_list('readings')")).map((r) =>
      r.name
    );
    for (const d of dropped) {
      assert.ok(!left.includes(d), `${d} is gone`);
    }
    assert.ok(left.includes("readings_default"), "the default partition is never dropped");
    const [{ n }] = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM readings") as [{ n: number }];
    assert.equal(n, 7, "exactly the rows of the two dropped days are gone");
  },
);

integrationTest(
  "a replay older than the retention window lands in the default partition and maintenance deletes it, not its day",
  async () => {
    await using db = await testDatabase();
    const old = new Date(today() - 45 * DAY).toISOString();
    await db.repository.writeBatch([reading("CUST-004", old, 1)], []);
    const done = await db.repository.maintainPartitions();
    assert.deepEqual(actions(done, "delete-default"), ["readings_5s_default", "readings_default"]);
    assert.deepEqual(actions(done, "move-default"), []);
    assert.deepEqual(await db.query("SELECT count(*)::int AS n FROM readings"), [{ n: 0 }]);
    const names = (await db.query<{ name: string }>("SELECT name FROM heartbeat_partition_list('readings')")).map((r) =>
      r.name
    );
    assert.ok(!names.includes(`readings_p${dayName(Date.parse(old))}`), "the dropped day is not made again");
  },
);

integrationTest("a step whose lock another session holds is reported skipped, and the next run does it", async () => {
  await using db = await testDatabase();
  const at = new Date(today() + 31 * DAY + 3_600_000).toISOString();
  const held = `readings_p${dayName(today())}`;
  const other = new pg.Client({ connectionString: db.url });
  await other.connect();
  try {
    await other.query("BEGIN");
    await other.query(`SELECT count(*) FROM ${held}`); // a long report reading an old day
    const first = await db.repository.maintainPartitions({ at, lockWaitMs: 200 });
    assert.deepEqual(first.filter((a) => a.action === "skipped").map((a) => a.partition), [held]);
    assert.match(first.find((a) => a.action === "skipped")!.detail, /^lock not granted within 00:00:00\.2: /);
    assert.ok(actions(first, "drop").includes(`readings_p${dayName(today() - DAY)}`), "the other drops went ahead");
  } finally {
    await other.query("COMMIT");
    await other.end();
  }
  const second = await db.repository.maintainPartitions({ at, lockWaitMs: 200 });
  assert.deepEqual(actions(second, "drop"), [held]);
});

integrationTest("retention settings are kept per table and checked: under 2 days is refused", async () => {
  await using db = await testDatabase();
  await db.repository.setPartitionSettings("readings", { retentionMs: 90 * DAY });
  await db.repository.setPartitionSettings("readings_5s", { retentionMs: null, premake: 3 });
  assert.deepEqual(await db.repository.partitionSettings(), [
    { table: "readings", premake: 7, retentionMs: 90 * DAY },
    { table: "readings_5s", premake: 3, retentionMs: null },
  ]);
  await assert.rejects(db.repository.setPartitionSettings("readings", { retentionMs: DAY }), /check constraint/);
  await assert.rejects(
    db.repository.setPartitionSettings("alerts", { retentionMs: DAY }),
    /alerts: it is not a partitioned table/,
  );
});

integrationTest(
  "the consumer runs the maintenance at start, as heartbeat_writer, and makes a missing partition",
  async () => {
    await using db = await testDatabase();
    await using topic = testTopic();
    const tomorrow = `readings_p${dayName(today() + DAY)}`;
    await db.query(`ALTER TABLE readings DETACH PARTITION ${tomorrow}`);
    await db.query(`DROP TABLE ${tomorrow}`);
    await using consumer = await spawnTask("consumer", [], {
      DATABASE_URL: db.writerUrl,
      KAFKA_TOPIC: topic.name,
      KAFKA_GROUP_ID: uniqueName("g"),
    });
    await waitUntil(
      "the consumer to make tomorrow's partition",
      () => Promise.resolve(consumer.stderr().includes(tomorrow)),
    );
    assert.match(consumer.stderr(), new RegExp(`"msg":"partition create".*"partition":"${tomorrow}"`));
    const names = (await db.query<{ name: string }>("SELECT name FROM heartbeat_partition_list('readings')")).map((r) =>
      r.name
    );
    assert.ok(names.includes(tomorrow));
    // the writer itself may not make tables: only through the maintenance function
    const writer = new pg.Client({ connectionString: db.writerUrl });
    await writer.connect();
    try {
      await assert.rejects(writer.query("CREATE TABLE readings_px (LIKE readings)"), /permission denied/);
    } finally {
      await writer.end();
    }
    consumer.kill("SIGTERM");
    assert.equal((await consumer.status).code, 0, consumer.stderr());
  },
);

integrationTest(
  "a database of the old unpartitioned schema, full of data, upgrades keeping every row; the pipeline writes on and every dashboard query answers",
  async (t) => {
    const url = `${PG_SERVER}/${uniqueName("heartbeat_upgrade")}`;
    await ensureDatabase(url);
    const admin = new pg.Pool({ connectionString: url, max: 2 });
    admin.on("error", () => {});
    const repository = Repository.connect(url);
    try {
      // the schema of before the migrations, as its schema.sql and roles.sql made it
      const baseline = await Deno.readTextFile(new URL("001_baseline.sql", SQL_MIGRATIONS));
      await admin.query(baseline);
      await admin.query(await Deno.readTextFile(SQL_ROLES));
      const old = Array.from(
        { length: 4000 },
        (_, i) =>
          reading(`CUST-${String(i % 20).padStart(3, "0")}`, new Date(today() - 3 * DAY + i * 60_000).toISOString(), i),
      );
      for (let i = 0; i < old.length; i += 1000) await repository.writeBatch(old.slice(i, i + 1000), []);
      const fingerprint = async () =>
        (await admin.query(
          `SELECT (SELECT count(*) || ':' || md5(string_agg(r::text, '|' ORDER BY customer_id, recorded_at)) FROM readings r) AS readings,
                  (SELECT count(*) || ':' || md5(string_agg(b::text, '|' ORDER BY customer_id, bucket)) FROM readings_5s b) AS rollup`,
        )).rows[0];
      const before = await fingerprint();
      assert.match(before.readings, /^4000:/);

      const result = await migrateDatabase(url, {}, { migrations: SQL_MIGRATIONS, roles: SQL_ROLES });
      assert.equal(result.adopted, "001_baseline.sql");
      assert.ok(result.applied.includes("002_time_partitions.sql"));

      await t.step("every row is kept, in the old table attached as one partition", async () => {
        assert.deepEqual(await fingerprint(), before);
        const list = (await admin.query("SELECT name, lo, hi FROM heartbeat_partition_list('readings')")).rows;
        const legacy = list.find((p) => p.name === "readings_legacy");
        assert.ok(legacy !== undefined, JSON.stringify(list));
        assert.equal(new Date(legacy.lo).getTime(), today() - 3 * DAY);
      });
      await t.step("replays of old readings are skipped and new ones stored", async () => {
        const replay = await repository.writeBatch(old.slice(0, 500), []);
        assert.deepEqual([replay.inserted, replay.duplicates], [0, 500]);
        const fresh = Array.from(
          { length: 300 },
          (_, i) => reading("CUST-NEW", new Date(today() + DAY + i * 1000).toISOString(), i),
        );
        assert.equal((await repository.writeBatch(fresh, [])).inserted, 300);
      });
      await t.step("the consumer stores a producer's run on the upgraded database", async () => {
        await using topic = testTopic();
        const run = {
          seed: 7,
          customers: 5,
          rate: 2000,
          count: 400,
          start: new Date().toISOString(),
          invalidRate: 0,
          anomalyRate: 0,
        };
        const producer = await spawnTask("producer", producerArgs(topic.name, run));
        assert.equal((await producer.status).code, 0, producer.stderr());
        const writer = new URL(url);
        writer.username = writer.password = "heartbeat_writer";
        await using consumer = await spawnTask("consumer", ["--from-beginning"], {
          DATABASE_URL: writer.toString(),
          KAFKA_TOPIC: topic.name,
          KAFKA_GROUP_ID: uniqueName("g"),
        });
        await waitUntil(
          "the run to be stored",
          async () =>
            Number(
              (await admin.query(
                "SELECT count(*) AS n FROM readings WHERE recorded_at >= $1 AND customer_id <> 'CUST-NEW'",
                [run.start],
              )).rows[0].n,
            ) === run.count,
        ).catch((e) => assert.fail(`${e.message}\n${consumer.stderr().slice(-3000)}`));
        consumer.kill("SIGTERM");
        assert.equal((await consumer.status).code, 0, consumer.stderr());
      });
      await t.step("every dashboard query answers as grafana_reader, over 1 h to 30 days", async () => {
        const reader = new URL(url);
        reader.username = reader.password = "grafana_reader";
        const client = new pg.Client({ connectionString: reader.toString() });
        await client.connect();
        try {
          const queries = dashboardQueries(await loadDashboard());
          assert.ok(queries.length >= 5);
          for (const hours of [1, 24, 24 * 7, 24 * 30]) {
            const range = { from: Date.now() - hours * 3_600_000, to: Date.now() + DAY };
            for (const q of queries) {
              const { sql } = expandQuery(q, range, { customer: ["CUST-001", "CUST-NEW"] });
              await client.query(sql).catch((e) => assert.fail(`${q.name} over ${hours} h: ${e.message}`));
            }
          }
        } finally {
          await client.end();
        }
      });
    } finally {
      await repository.close();
      await admin.end();
      await dropDatabase(url);
    }
  },
  240_000,
);
