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
import { classify, isAnomalous } from "../lib/domain/heart_rate.ts";
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
    const far = new Date(today() + 150 * DAY + 3_600_000).toISOString(); // beyond the premade days and months
    const first = await db.repository.writeBatch([reading("CUST-002", far, 7)], []);
    assert.equal(first.inserted, 1);
    assert.equal((await placement((sql) => db.query(sql))).get(`CUST-002/${far.slice(0, 10)}`), "readings_default");

    const dry = await db.repository.maintainPartitions({ dryRun: true });
    const month = `${dayName(Date.parse(far)).slice(0, 6)}01`; // the coarser rollups have monthly partitions
    assert.deepEqual(actions(dry, "move-default"), [
      `readings_1h_p${month}`,
      `readings_1m_p${month}`,
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
    // readings keeps 30 days; its 5-second rollup 7, so all of that one's premade days go too
    assert.deepEqual(actions(dry, "drop").filter((p) => p.startsWith("readings_p")), dropped);
    assert.deepEqual(
      actions(dry, "drop").filter((p) => p.startsWith("readings_5s_p")),
      Array.from({ length: 9 }, (_, k) => `readings_5s_p${dayName(today() + (k - 1) * DAY)}`),
    );
    assert.ok(!actions(dry, "drop").some((p) => /^readings_1[mh]_/.test(p)), "the coarser rollups keep a year, or all");
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
    // raw readings keep 30 days and the 5-second rollup 7: deleted; the 1-minute (a year) and hourly
    // rollups keep the day, in a partition of its month
    assert.deepEqual(actions(done, "delete-default"), ["readings_5s_default", "readings_default"]);
    const month = `${dayName(Date.parse(old)).slice(0, 6)}01`;
    assert.deepEqual(actions(done, "move-default"), [`readings_1h_p${month}`, `readings_1m_p${month}`]);
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
    { table: "dead_letters", premake: 7, retentionMs: 90 * DAY },
    { table: "dead_letters_1h", premake: 2, retentionMs: null },
    { table: "dead_letters_1m", premake: 2, retentionMs: 90 * DAY },
    { table: "readings", premake: 7, retentionMs: 90 * DAY },
    { table: "readings_1h", premake: 2, retentionMs: null },
    { table: "readings_1m", premake: 2, retentionMs: 365.25 * DAY }, // PostgreSQL's year
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
      // as the consumer of before the partitions wrote them: a plain INSERT, the 5-second rollup by its trigger
      await admin.query(
        `INSERT INTO readings (customer_id, recorded_at, heart_rate, is_anomaly, category, kafka_partition, kafka_offset)
         SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::bool[], $5::text[], $6::int4[], $7::int8[])`,
        [
          old.map((r) => r.customerId),
          old.map((r) => r.recordedAt),
          old.map((r) => r.heartRate),
          old.map((r) => r.isAnomaly),
          old.map((r) => r.category),
          old.map((r) => r.partition),
          old.map((r) => r.offset),
        ],
      );
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

integrationTest(
  "the 5-second, 1-minute and hourly rollups equal the readings they summarise, also after redelivery",
  async (t) => {
    await using db = await testDatabase();
    const start = today() + 3_600_000 * 5;
    const rows = Array.from(
      { length: 3000 },
      (_, i) => ({
        ...reading(`CUST-${i % 5}`, new Date(start + i * 4_100).toISOString(), i),
        heartRate: 35 + (i * 7) % 130,
      }),
    ).map((r) => ({ ...r, isAnomaly: isAnomalous(r.heartRate), category: classify(r.heartRate) }));
    for (let i = 0; i < rows.length; i += 700) await db.repository.writeBatch(rows.slice(i, i + 700), []);
    // every record delivered again, in other batches, and some overlapping
    const again = await db.repository.writeBatch([...rows.slice(1000, 2500), ...rows.slice(0, 200)], []);
    assert.equal(again.inserted, 0);
    // rows written around the consumer reach no rollup, until heartbeat_rollups_rebuild() is run
    await db.query(
      `INSERT INTO readings (customer_id, recorded_at, heart_rate, is_anomaly, category, kafka_partition, kafka_offset)
       SELECT 'CUST-PSQL', $1::timestamptz + i * interval '7 seconds', 70, false, 'normal', 0, i
       FROM generate_series(1, 40) AS i`,
      [new Date(start).toISOString()],
    );
    const [rebuilt] = await db.query<{ n: number }>("SELECT heartbeat_rollups_rebuild($1, $2)::int AS n", [
      new Date(start).toISOString(),
      new Date(start + 4 * 3_600_000).toISOString(),
    ]);
    assert.ok(rebuilt!.n > 0);
    const tables: [string, string][] = [["readings_5s", "5 seconds"], ["readings_1m", "1 minute"], [
      "readings_1h",
      "1 hour",
    ]];
    for (const [table, width] of tables) {
      await t.step(table, async () => {
        const from =
          `SELECT customer_id, date_bin('${width}', recorded_at, timestamptz 'epoch') AS bucket, count(*)::int AS readings,
        count(*) FILTER (WHERE is_anomaly)::int AS anomalies, sum(heart_rate) AS hr_sum, min(heart_rate) AS hr_min,
        max(heart_rate) AS hr_max, count(*) FILTER (WHERE category = 'critical_low')::int AS critical_low,
        count(*) FILTER (WHERE category = 'tachycardia')::int AS tachycardia,
        round(sum(date_part('epoch', ingested_at - recorded_at))::numeric, 6) AS delay_sum
        FROM readings GROUP BY 1, 2`;
        const rolled =
          `SELECT customer_id, bucket, readings, anomalies, hr_sum, hr_min, hr_max, critical_low, tachycardia,
        round(delay_sum::numeric, 6) AS delay_sum FROM ${table}`;
        const [diff] = await db.query<{ missing: number; extra: number; groups: number }>(
          `SELECT (SELECT count(*)::int FROM (${from} EXCEPT ${rolled}) a) AS missing,
                (SELECT count(*)::int FROM (${rolled} EXCEPT ${from}) b) AS extra,
                (SELECT count(*)::int FROM ${table}) AS groups`,
        );
        assert.deepEqual({ missing: diff!.missing, extra: diff!.extra }, { missing: 0, extra: 0 });
        assert.ok(diff!.groups > 1, `${table} has ${diff!.groups} rows`);
      });
    }
  },
);

integrationTest(
  "readings_rollup() serves a range from the coarsest rollup that fits its interval, range and retention, exactly",
  async (t) => {
    await using db = await testDatabase();
    const H = 3_600_000, now = Date.now();
    const width = async (from: number, to: number, intervalMs: number) =>
      (await db.query<{ w: number }>("SELECT readings_rollup_width($1, $2, $3) AS w", [
        new Date(from).toISOString(),
        new Date(to).toISOString(),
        intervalMs,
      ]))[0]!.w;
    const cases: [string, number, number, number, number][] = [
      ["15 minutes at 5 s", now - 15 * 60_000, now, 5_000, 5],
      ["24 hours at 1 min", now - 24 * H, now, 60_000, 60],
      ["7 days at 100 points (about 2 h)", now - 7 * 24 * H, now, 2 * H, 3600],
      ["30 days at 22 min", now - 30 * 24 * H, now, 22 * 60_000, 60],
      ["30 days at 100 points (about 7 h)", now - 30 * 24 * H, now, 7 * H, 3600],
      ["1 hour at 1 min: a sixtieth of the range is 1 min", now - H, now, 60_000, 60],
      [
        "2 hours 10 days ago: the 5-second rollup keeps 7 days",
        now - 10 * 24 * H,
        now - 10 * 24 * H + 2 * H,
        5_000,
        60,
      ],
      [
        "2 hours 400 days ago: the 1-minute rollup keeps a year",
        now - 400 * 24 * H,
        now - 400 * 24 * H + 2 * H,
        5_000,
        3600,
      ],
    ];
    for (const [name, from, to, intervalMs, expected] of cases) {
      await t.step(name, async () => assert.equal(await width(from, to, intervalMs), expected));
    }
    const start = today() + 2 * H;
    const rows = Array.from(
      { length: 2000 },
      (_, i) => reading(`CUST-${i % 4}`, new Date(start + i * 5_300).toISOString(), i),
    );
    await db.repository.writeBatch(rows, []);
    for (const intervalMs of [5_000, 60_000, H]) {
      await t.step(`the three hours' sum is the readings' count at ${intervalMs / 1000} s`, async () => {
        const [got] = await db.query<{ n: number; w: number }>(
          "SELECT sum(readings)::int AS n, readings_rollup_width($1, $2, $3) AS w FROM readings_rollup($1, $2, $3)",
          [new Date(start).toISOString(), new Date(start + 3 * H - 1).toISOString(), intervalMs],
        );
        const expectedWidth = intervalMs >= H ? 60 : intervalMs >= 60_000 ? 60 : 5; // a sixtieth of 3 h is 3 min
        assert.deepEqual(got, { n: rows.filter((r) => r.recordedAtMs < start + 3 * H).length, w: expectedWidth });
      });
    }
  },
);

integrationTest(
  "dead_letters_rollup() serves 1-minute counts up to an hour's interval and within 90 days, hourly ones beyond",
  async (t) => {
    await using db = await testDatabase();
    const H = 3_600_000, now = Date.now();
    const cases: [string, number, number, number, number][] = [
      ["24 hours at 3 min", now - 24 * H, now, 180_000, 60],
      ["7 days at 20 min", now - 7 * 24 * H, now, 20 * 60_000, 60],
      ["30 days at 100 points (about 7 h)", now - 30 * 24 * H, now, 7 * H, 3600],
      ["2 hours 100 days ago: the 1-minute rollup keeps 90 days", now - 100 * 24 * H, now - 98 * 24 * H, 60_000, 3600],
    ];
    for (const [name, from, to, intervalMs, expected] of cases) {
      await t.step(name, async () => {
        const [got] = await db.query<{ w: number }>("SELECT dead_letters_rollup_width($1, $2, $3) AS w", [
          new Date(from).toISOString(),
          new Date(to).toISOString(),
          intervalMs,
        ]);
        assert.equal(got!.w, expected);
      });
    }
  },
);

integrationTest(
  "dead letters are filed by their Kafka timestamp's day, stay single when redelivered, and go after 90 days",
  async () => {
    await using db = await testDatabase();
    const letter = (offset: number, timestampMs: number | null) => ({
      topic: "heartbeat-readings",
      partition: 2,
      offset: String(offset),
      key: null,
      value: new TextEncoder().encode("{"),
      timestampMs,
      reasons: [{ code: "not_json" as const, detail: "truncated" }],
    });
    const now = Date.now();
    const letters = [letter(1, now), letter(2, now - DAY), letter(3, null)];
    assert.equal((await db.repository.writeBatch([], letters)).rejected, 3);
    const again = await db.repository.writeBatch([], letters);
    assert.deepEqual(
      [again.rejected, again.rejectedDuplicates],
      [0, 3],
      "a redelivery adds nothing, with or without a timestamp",
    );
    const rolled = async () =>
      await db.query<{ t: string; reason: string; n: number }>(
        `SELECT '1m' AS t, reason, sum(rejected)::int AS n FROM dead_letters_1m GROUP BY 1, 2
         UNION ALL SELECT '1h', reason, sum(rejected)::int FROM dead_letters_1h GROUP BY 1, 2 ORDER BY 1`,
      );
    const once = [{ t: "1h", reason: "not_json", n: 3 }, { t: "1m", reason: "not_json", n: 3 }];
    assert.deepEqual(await rolled(), once, "the rollups count each stored dead letter once, by reason");
    await db.query("SELECT heartbeat_rollups_rebuild(now() - interval '1 hour', now() + interval '1 hour')");
    assert.deepEqual(await rolled(), once, "a rebuild from the dead letters gives the same counts");
    const where = async () =>
      Object.fromEntries(
        (await db.query<{ o: string; p: string }>(
          "SELECT kafka_offset::text AS o, tableoid::regclass::text AS p FROM dead_letters ORDER BY 1",
        )).map((r) => [r.o, r.p]),
      );
    assert.deepEqual(await where(), {
      1: `dead_letters_p${dayName(today())}`,
      2: `dead_letters_p${dayName(today() - DAY)}`,
      3: "dead_letters_default", // no timestamp: keyed 'infinity', kept there
    });
    assert.deepEqual(
      (await db.repository.maintainPartitions()).filter((a) => a.partition.startsWith("dead_letters")),
      [],
      "maintenance leaves the one without a timestamp where it is",
    );
    const later = await db.repository.maintainPartitions({
      at: new Date(today() + 91 * DAY + 3_600_000).toISOString(),
    });
    assert.deepEqual(actions(later, "drop").filter((p) => p.startsWith("dead_letters_p")).slice(0, 2), [
      `dead_letters_p${dayName(today() - DAY)}`,
      `dead_letters_p${dayName(today())}`,
    ]);
    assert.deepEqual(await where(), { 3: "dead_letters_default" });
  },
);

integrationTest(
  "deno task db:maintain changes settings, dry-runs and runs, and a bad setting stops it with one line",
  async (t) => {
    await using db = await testDatabase();
    const run = async (args: string[]) => {
      const child = await spawnTask("db:maintain", args, { DATABASE_ADMIN_URL: db.url });
      const { code } = await child.status;
      return { code, out: child.stdout(), err: child.stderr().trim().split("\n").filter((l) => l !== "") };
    };
    await t.step("--retention and --premake are kept, and a dry run lists what a run would do", async () => {
      await db.query(`ALTER TABLE readings DETACH PARTITION readings_p${dayName(today() + 2 * DAY)}`);
      await db.query(`DROP TABLE readings_p${dayName(today() + 2 * DAY)}`);
      const { code, out } = await run(["--dry-run", "--retention", "readings=60d,dead_letters=keep", "--premake", "9"]);
      assert.equal(code, 0);
      assert.match(out, new RegExp(`^would create +readings_p${dayName(today() + 2 * DAY)} `, "m"));
      assert.match(out, new RegExp(`^would create +readings_p${dayName(today() + 9 * DAY)} `, "m"));
      const settings = await db.repository.partitionSettings();
      assert.deepEqual(settings.find((s) => s.table === "readings"), {
        table: "readings",
        premake: 9,
        retentionMs: 60 * DAY,
      });
      assert.equal(settings.find((s) => s.table === "dead_letters")?.retentionMs, null);
    });
    await t.step("a run does it, and the next finds nothing to do", async () => {
      assert.equal((await run([])).code, 0);
      const again = await run([]);
      assert.equal(again.code, 0);
      assert.equal(again.out, "");
      assert.match(again.err.at(-1)!, /"msg":"partitions are in order: nothing to do"/);
    });
    const refusals: [string, string[], number, RegExp][] = [
      [
        "a malformed --retention",
        ["--retention", "readings=soon"],
        2,
        /^error: Invalid --retention: expected table=<days>d/,
      ],
      [
        "a window the table refuses",
        ["--retention", "readings=1d"],
        1,
        /^error: maintenance failed for .*check constraint/,
      ],
      ["a table that is not partitioned", ["--retention", "alerts=30d"], 1, /alerts: it is not a partitioned table$/],
    ];
    for (const [name, args, code, line] of refusals) {
      await t.step(name, async () => {
        const r = await run(args);
        assert.equal(r.code, code, r.err.join("\n"));
        assert.equal(r.err.length, 1, r.err.join("\n"));
        assert.match(r.err[0]!, line);
      });
    }
  },
);

integrationTest(
  "a table of a partition's name that is not a partition is reported, not overwritten or fatal",
  async () => {
    await using db = await testDatabase();
    const tomorrow = `readings_p${dayName(today() + DAY)}`;
    await db.query(`ALTER TABLE readings DETACH PARTITION ${tomorrow}`); // detached by hand, kept
    const actions = await db.repository.maintainPartitions();
    const mine = actions.filter((a) => a.partition === tomorrow);
    assert.deepEqual(mine.map((a) => a.action), ["skipped"]);
    assert.match(
      mine[0]!.detail,
      new RegExp(`a table ${tomorrow} exists and is not a partition of readings: attach or drop it`),
    );
    assert.ok(actions.some((a) => a.action === "create" && a.partition === tomorrow) === false);
  },
);
