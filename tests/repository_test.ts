/**
 * The repository against a real PostgreSQL: values round-trip exactly (including the binary
 * arrays it builds itself, byte for byte what PostgreSQL's own array_send writes), a second write of the same batch stores nothing twice, dead letters
 * keep raw bytes, and alert upserts merge instead of duplicating.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Alert } from "../lib/domain/episodes.ts";
import { createLogger } from "../lib/ops/log.ts";
import { createValidator, type Validator } from "../lib/domain/reading.ts";
import {
  DataError,
  type DeadLetter,
  Repository,
  type StoredReading,
  TransientError,
  UnencodableRowError,
} from "../lib/storage/mod.ts";
import { FaultProxy } from "./support/fault_proxy.ts";
import { readingColumns } from "../lib/storage/_columns.ts";
import { Sink } from "../lib/sink/mod.ts";
import { integrationTest, testDatabase } from "./support/helpers.ts";

const reading = (over: Partial<StoredReading>): StoredReading => ({
  customerId: "CUST-001",
  recordedAt: "2026-11-25T12:00:00.123456Z",
  recordedAtMs: Date.parse("2026-11-25T12:00:00.123Z") + 0.456,
  heartRate: 72,
  isAnomaly: false,
  category: "normal",
  reportedAnomaly: null,
  readingId: null,
  partition: 0,
  offset: "0",
  ...over,
});

integrationTest("writeBatch() stores readings exactly and skips the same readings when written again", async () => {
  await using db = await testDatabase();
  const rows = [
    reading({}),
    reading({ customerId: "NULL", heartRate: 72.5, reportedAnomaly: true, partition: 3, offset: "9007199254740993" }),
    reading({
      customerId: "a.b:c_d-e",
      recordedAt: "1970-01-01T00:00:00.000001Z",
      heartRate: 20,
      isAnomaly: true,
      category: "critical_low",
      reportedAnomaly: false,
      readingId: "019abf3c-1d2e-7a00-8000-000000000001",
    }),
  ];
  const first = await db.repository.writeBatch(rows, []);
  assert.deepEqual(first, { inserted: 3, duplicates: 0, rejected: 0, rejectedDuplicates: 0 });
  const again = await db.repository.writeBatch(rows, []);
  assert.deepEqual(again, { inserted: 0, duplicates: 3, rejected: 0, rejectedDuplicates: 0 });
  const stored = await db.query<Record<string, unknown>>(
    `SELECT customer_id, to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, heart_rate,
            is_anomaly, category, reported_anomaly, reading_id::text, kafka_partition, kafka_offset::text
     FROM readings ORDER BY customer_id`,
  );
  assert.deepEqual(stored, [
    {
      customer_id: "CUST-001",
      at: "2026-11-25T12:00:00.123456Z",
      heart_rate: 72,
      is_anomaly: false,
      category: "normal",
      reported_anomaly: null,
      reading_id: null,
      kafka_partition: 0,
      kafka_offset: "0",
    },
    {
      customer_id: "NULL",
      at: "2026-11-25T12:00:00.123456Z",
      heart_rate: 72.5,
      is_anomaly: false,
      category: "normal",
      reported_anomaly: true,
      reading_id: null,
      kafka_partition: 3,
      kafka_offset: "9007199254740993",
    },
    {
      customer_id: "a.b:c_d-e",
      at: "1970-01-01T00:00:00.000001Z",
      heart_rate: 20,
      is_anomaly: true,
      category: "critical_low",
      reported_anomaly: false,
      reading_id: "019abf3c-1d2e-7a00-8000-000000000001",
      kafka_partition: 0,
      kafka_offset: "0",
    },
  ]);
});

integrationTest(
  "writeBatch() refuses a value it cannot encode as a data error, before it writes anything",
  async () => {
    await using db = await testDatabase();
    const bad = reading({ customerId: "CUST-BAD", readingId: "not-a-uuid", offset: "7" });
    const error = await db.repository.writeBatch([reading({}), bad], []).then(
      () => assert.fail("writeBatch() stored a reading id that is not a UUID"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof UnencodableRowError);
    assert.ok(error instanceof DataError, "the sink must split the batch, not retry it");
    assert.match(error.message, /cannot encode the row for PostgreSQL: Cannot encode uuid "not-a-uuid"/);
    const count = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM readings");
    assert.deepEqual(count, [{ n: 0 }]);
    // the connection pool is intact: the next batch goes through
    assert.equal((await db.repository.writeBatch([reading({})], [])).inserted, 1);
  },
);

integrationTest(
  "the sink dead-letters a reading the repository cannot encode and stores the rest of its batch",
  async () => {
    await using db = await testDatabase();
    // a validator that lets one bad reading id through, as a validator/encoder disagreement would
    const valid = createValidator({}, () => Date.UTC(2027, 0, 1));
    const lenient: Validator = (value) => {
      const verdict = valid(value);
      if (verdict.ok && verdict.reading.customerId === "CUST-3") {
        return { ok: true, reading: { ...verdict.reading, readingId: "zzzzzzzz-0000-0000-0000-000000000000" } };
      }
      return verdict;
    };
    const sink = new Sink({
      store: db.repository,
      validate: lenient,
      batchSize: 100,
      batchWaitMs: 5,
      log: createLogger({ level: "error", pretty: false, write: () => {} }),
      initialRetryMs: 1,
      maxRetryMs: 4,
    });
    const encoder = new TextEncoder();
    const records = Array.from({ length: 8 }, (_, i) => ({
      topic: "heartbeats",
      partition: 0,
      offset: String(10 + i),
      key: encoder.encode(`CUST-${i}`),
      value: encoder.encode(`{"customer_id":"CUST-${i}","timestamp":"2026-11-25T12:00:0${i}Z","heart_rate":7${i}}`),
      timestampMs: 0,
    }));
    await sink.submit(records); // resolves: the batch is not retried forever
    await sink.close();
    const stored = await db.query<{ customer_id: string }>("SELECT customer_id FROM readings ORDER BY 1");
    assert.deepEqual(stored.map((r) => r.customer_id), [0, 1, 2, 4, 5, 6, 7].map((i) => `CUST-${i}`));
    const letters = await db.query<{ o: string; payload: string; reason: string; detail: string }>(
      "SELECT kafka_offset::text AS o, convert_from(payload, 'UTF8') AS payload, reason, reasons->0->>'detail' AS detail FROM dead_letters",
    );
    assert.equal(letters.length, 1);
    assert.equal(letters[0]!.o, "13");
    assert.equal(letters[0]!.payload, new TextDecoder().decode(records[3]!.value));
    assert.equal(letters[0]!.reason, "rejected_by_database");
    assert.match(letters[0]!.detail, /^cannot encode the row for PostgreSQL: Cannot encode uuid "zzzzzzzz-/);
  },
);

integrationTest("writeBatch() keeps a dead letter's raw bytes and every reason, once per Kafka position", async () => {
  await using db = await testDatabase();
  const letter: DeadLetter = {
    topic: "t",
    partition: 2,
    offset: "41",
    key: null,
    value: new Uint8Array([0xff, 0x00, 0x7b, 0x22]),
    timestampMs: Date.UTC(2026, 10, 25),
    reasons: [{ code: "not_utf8", detail: "message is not valid UTF-8" }, {
      code: "customer_id_invalid",
      field: "customer_id",
      detail: 'customer_id has characters outside letters: "CUST\\u0000"',
    }],
  };
  const tombstone: DeadLetter = {
    ...letter,
    offset: "42",
    value: null,
    key: new TextEncoder().encode("CUST-9"),
    reasons: [{ code: "empty", detail: "tombstone" }],
  };
  assert.equal((await db.repository.writeBatch([], [letter, tombstone])).rejected, 2);
  assert.equal((await db.repository.writeBatch([], [letter])).rejectedDuplicates, 1);
  const rows = await db.query<Record<string, unknown>>(
    "SELECT kafka_offset::text AS o, encode(payload, 'hex') AS payload, payload_bytes, encode(kafka_key, 'escape') AS key, reason, reasons FROM dead_letters ORDER BY 1",
  );
  assert.deepEqual(rows.map((r) => [r.o, r.payload, r.payload_bytes, r.key, r.reason]), [
    ["41", "ff007b22", 4, null, "not_utf8"],
    ["42", null, 0, "CUST-9", "empty"],
  ]);
  assert.deepEqual(rows[0]!.reasons, letter.reasons);
});

integrationTest(
  "writeBatch() upserts alerts: a later state extends the same row, an earlier one never shrinks it",
  async () => {
    await using db = await testDatabase();
    const open: Alert = {
      customerId: "CUST-001",
      kind: "tachycardia",
      startedAt: "2026-11-25T12:00:00.000000Z",
      startedAtMs: Date.UTC(2026, 10, 25, 12),
      openedAt: "2026-11-25T12:00:04.000000Z",
      openedAtMs: Date.UTC(2026, 10, 25, 12, 0, 4),
      lastAt: "2026-11-25T12:00:04.000000Z",
      lastAtMs: Date.UTC(2026, 10, 25, 12, 0, 4),
      endedAt: null,
      closedAt: null,
      peak: 130,
      readings: 5,
      severity: "warning",
    };
    const closed: Alert = {
      ...open,
      lastAt: "2026-11-25T12:00:30.000000Z",
      endedAt: "2026-11-25T12:00:30.000000Z",
      closedAt: "2026-11-25T12:00:33.000000Z",
      peak: 155,
      readings: 31,
      severity: "critical",
    };
    await db.repository.writeBatch([], [], [open]);
    await db.repository.writeBatch([], [], [closed]);
    await db.repository.writeBatch([], [], [open]); // a redelivered older state
    const rows = await db.query<Record<string, unknown>>(
      "SELECT kind, peak, reading_count, severity, ended_at IS NOT NULL AS ended, closed_at IS NOT NULL AS closed FROM alerts",
    );
    assert.deepEqual(rows, [{
      kind: "tachycardia",
      peak: 155,
      reading_count: 31,
      severity: "critical",
      ended: true,
      closed: true,
    }]);
  },
);

integrationTest("the readings' binary arrays are byte for byte what PostgreSQL's array_send writes", async (t) => {
  await using db = await testDatabase();
  const rows = [
    reading({}),
    reading({
      customerId: "NULL",
      recordedAt: "1970-01-01T00:00:00.000001Z",
      recordedAtMs: 0.001,
      heartRate: 72.5,
      reportedAnomaly: true,
      readingId: "019ABF3C-1D2E-7A00-8000-00000000000F",
      partition: 2_147_483_647,
      offset: "9223372036854775807",
    }),
    reading({
      customerId: "é-Ω-😀",
      recordedAt: "9999-12-31T23:59:59.999999Z",
      recordedAtMs: Date.UTC(9999, 11, 31, 23, 59, 59, 999) + 0.999,
      heartRate: 20.000000000000004,
      isAnomaly: true,
      category: "critical_low",
      reportedAnomaly: false,
      readingId: "00000000-0000-0000-0000-000000000000",
      offset: "9007199254740993",
    }),
    // not the validator's form: the microseconds come from recordedAtMs
    reading({
      recordedAt: "2026-11-25T12:00:00Z",
      recordedAtMs: Date.UTC(2026, 10, 25, 12) + 0.5,
      offset: "4294967296",
    }),
  ];
  const columns: [string, string, (r: StoredReading) => unknown][] = [
    ["customer_id", "text", (r) => r.customerId],
    [
      "recorded_at",
      "timestamptz",
      (r) => r.recordedAt === "2026-11-25T12:00:00Z" ? "2026-11-25T12:00:00.0005Z" : r.recordedAt,
    ],
    ["heart_rate", "float8", (r) => r.heartRate],
    ["is_anomaly", "bool", (r) => r.isAnomaly],
    ["reported_anomaly", "bool", (r) => r.reportedAnomaly],
    ["reading_id", "uuid", (r) => r.readingId],
    ["kafka_partition", "int4", (r) => r.partition],
    ["kafka_offset", "int8", (r) => r.offset],
    ["category", "text", (r) => r.category],
  ];
  const ours = readingColumns(rows);
  for (const [j, [name, type, value]] of columns.entries()) {
    await t.step(`${name} (${type}[])`, async () => {
      const { rows: [theirs] } = await db.pool.query<{ bytes: Uint8Array }>(
        `SELECT array_send($1::${type}[]) AS bytes`,
        [rows.map(value)],
      );
      assert.deepEqual([...ours[j]!], [...theirs!.bytes]);
    });
  }
});

integrationTest("any readings' binary arrays are what array_send writes for the same values as text", async () => {
  await using db = await testDatabase();
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  const row = fc.record({
    customerId: fc.string({ unit: "grapheme", maxLength: 12 }),
    ms: fc.integer({ min: Date.UTC(100, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }),
    micros: fc.integer({ min: 0, max: 999 }),
    canonical: fc.boolean(),
    heartRate: fc.double(),
    isAnomaly: fc.boolean(),
    reportedAnomaly: fc.option(fc.boolean()),
    readingId: fc.option(fc.uuid()),
    partition: fc.integer({ min: 0, max: 2_147_483_647 }),
    offset: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 20 }), async (xs) => {
      const rows = xs.map((x) => {
        const d = new Date(x.ms);
        const iso = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T` +
          `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.` +
          `${pad(d.getUTCMilliseconds(), 3)}${pad(x.micros, 3)}Z`;
        return {
          text: iso,
          reading: reading({
            ...x,
            // the validator's form, or another one: then the microseconds come from recordedAtMs,
            // a double, which holds them exactly only within 2^41 ms (1900–2039)
            recordedAt: x.canonical || Math.abs(x.ms) >= 2 ** 41 ? iso : `${iso.slice(0, 19)}Z`,
            recordedAtMs: x.ms + x.micros / 1000,
            offset: String(x.offset),
          }),
        };
      });
      const ours = readingColumns(rows.map((r) => r.reading));
      const { rows: [theirs] } = await db.pool.query<Record<string, Uint8Array>>(
        `SELECT array_send($1::text[]) AS a, array_send($2::timestamptz[]) AS b, array_send($3::float8[]) AS c,
                array_send($4::bool[]) AS d, array_send($5::bool[]) AS e, array_send($6::uuid[]) AS f,
                array_send($7::int4[]) AS g, array_send($8::int8[]) AS h`,
        [
          rows.map((r) => r.reading.customerId),
          rows.map((r) => r.text),
          // node-postgres writes doubles with String(): exact, and "NaN", "Infinity", "-Infinity" too
          rows.map((r) => Object.is(r.reading.heartRate, -0) ? "-0" : String(r.reading.heartRate)),
          rows.map((r) => r.reading.isAnomaly),
          rows.map((r) => r.reading.reportedAnomaly),
          rows.map((r) => r.reading.readingId),
          rows.map((r) => r.reading.partition),
          rows.map((r) => r.reading.offset),
        ],
      );
      for (const [j, key] of ["a", "b", "c", "d", "e", "f", "g", "h"].entries()) {
        assert.deepEqual([...ours[j]!], [...theirs![key]!], `column ${j + 1}`);
      }
    }),
    { numRuns: 100 },
  );
});

integrationTest(
  "writeBatch() fails a statement that outlasts writeTimeoutMs on a link that carries nothing, and the next batch is stored on a new connection",
  async () => {
    await using db = await testDatabase();
    await using proxy = FaultProxy.start({ port: 49992, target: { hostname: "127.0.0.1", port: 5432 } });
    const url = new URL(db.url);
    url.port = "49992";
    const repository = Repository.connect(url.href, { writeTimeoutMs: 300 });
    const second = reading({
      offset: "2",
      recordedAt: "2026-11-25T12:00:01Z",
      recordedAtMs: Date.parse("2026-11-25T12:00:01Z"),
    });
    try {
      await repository.writeBatch([reading({ offset: "1" })], []);
      proxy.blackHole();
      await assert.rejects(
        repository.writeBatch([second], []),
        (e) => e instanceof TransientError && /Query read timeout/.test(String(e.message)),
      );
      proxy.passThrough();
      const again = await repository.writeBatch([second], []);
      assert.equal(again.inserted, 1, "the retried batch is stored once");
      assert.equal((await db.counts()).readings, 2);
    } finally {
      await repository.close();
    }
  },
);
