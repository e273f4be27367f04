/**
 * The delivery guarantee under faults, on the real Kafka broker and PostgreSQL server: consumers
 * killed with SIGKILL (also between the database commit and the offset commit), database
 * connections terminated and the database refusing connections, the Kafka broker restarted during
 * production and consumption, a group member killed, graceful stops, and hostile bytes written
 * straight onto the topic. Each scenario checks that every valid reading is stored exactly once
 * and every invalid one is dead-lettered exactly once, and adds a row to the fault table printed
 * at the end (the README's "Guarantees" section quotes it).
 *
 * Run alone with `deno task test:faults`.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
// @ts-types="@types/pg"
import pg from "pg";
import { Random } from "../lib/simulator/random.ts";
import type { SimulatedMessage } from "../lib/simulator/simulator.ts";
import {
  groupCaughtUp,
  integrationTest,
  PG_SERVER,
  type TestDatabase,
  testDatabase,
  type TestTopic,
  testTopic,
  uniqueName,
  waitForJoin,
  waitUntil,
} from "./support/helpers.ts";
import {
  checkDelivery,
  type FaultRow,
  liveRun,
  type Run,
  simulate,
  startConsumer,
  startProducer,
  topicRecords,
  total,
  waitForAllPartitions,
  waitForSharing,
} from "./support/delivery.ts";

const table: FaultRow[] = [];

/** {@link checkDelivery}, adding the row to this suite's table. */
const verify = (scenario: string, db: TestDatabase, topic: TestTopic, messages: SimulatedMessage[]) =>
  checkDelivery(scenario, db, topic, messages, (row) => table.push(row));
const consumer = startConsumer;

integrationTest(
  "SIGKILL of the consumer at random moments and between the database commit and the offset commit loses and doubles nothing",
  async () => {
    await using db = await testDatabase();
    await using topic = testTopic();
    // live traffic for ~15 s while the consumer is killed again and again (a pre-filled topic of
    // this size is drained within one consumer's lifetime, leaving nothing to interrupt)
    const run = liveRun({ seed: 11, count: 60_000, rate: 4_000, customers: 25 });
    const messages = simulate(run);
    const producer = await startProducer(topic.name, run);
    const group = uniqueName("kill");
    const random = new Random(2026);
    const progress: number[] = [];
    let kills = 0, inWindow = 0;
    for (let i = 0; i < 7; i++) {
      const windowKill = i % 3 === 1;
      const env: Record<string, string> = {
        HEARTBEAT_CONSUMER_BATCH_SIZE: "500",
        HEARTBEAT_CONSUMER_BATCH_WAIT_MS: "20",
      };
      if (windowKill) env.HEARTBEAT_FAILPOINT = "pause-after-db-commit:5000";
      const c = await consumer(db, topic, group, env);
      try {
        if (windowKill) {
          await waitUntil(
            "the failpoint between the commits",
            () => Promise.resolve(c.stderr().includes("failpoint: paused")),
          );
          inWindow++;
        } else {
          await waitUntil("the consumer to join", () => Promise.resolve(c.stderr().includes("joined group")));
          await new Promise((r) => setTimeout(r, random.int(50, 400)));
        }
      } finally {
        c.kill("SIGKILL");
        await c.status;
      }
      kills++;
      progress.push(await total(db));
    }
    // the kills happened while work remained, or the scenario proves nothing
    const midRun = progress.filter((n) => n < run.count).length;
    assert.ok(midRun >= 5, `at least 5 kills mid-run (progress after each kill: ${progress.join(", ")})`);
    assert.ok(inWindow >= 2);
    assert.equal((await producer.status).code, 0, producer.stderr());
    const last = await consumer(db, topic, group);
    await waitForJoin(last);
    await waitUntil("everything stored", async () => (await total(db)) >= run.count, 90_000);
    await waitUntil("offsets committed", () => groupCaughtUp(topic.kafka, topic.name, group));
    last.kill("SIGTERM");
    assert.equal((await last.status).code, 0, last.stderr());
    await verify(`consumer SIGKILLed ${kills}× (${inWindow} between DB commit and offset commit)`, db, topic, messages);
  },
);

integrationTest(
  "terminated database connections and a database refusing connections pause the consumer, which retries and resumes without skipping",
  async () => {
    await using db = await testDatabase();
    await using topic = testTopic();
    // live traffic (not a pre-filled topic, which the consumer drains in about a second), so that
    // the outage below always meets records waiting to be written
    const run = liveRun({ seed: 12, count: 30_000, rate: 3_000, customers: 10 });
    const messages = simulate(run);
    const producer = await startProducer(topic.name, run);
    const admin = new pg.Client({ connectionString: `${PG_SERVER}/postgres` });
    await admin.connect();
    const dbName = new URL(db.url).pathname.slice(1);
    const terminate = () =>
      admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'heartbeat-consumer'",
        [dbName],
      );
    try {
      await using c = await consumer(db, topic, uniqueName("pg"), {
        HEARTBEAT_CONSUMER_BATCH_SIZE: "500",
        HEARTBEAT_CONSUMER_BATCH_WAIT_MS: "20",
        HEARTBEAT_CONSUMER_METRICS_PORT: "9464",
      });
      const readyz = async () => {
        const r = await fetch("http://127.0.0.1:9464/readyz");
        await r.body?.cancel();
        return r.status;
      };
      await waitForJoin(c);
      await waitUntil("the first rows", async () => (await total(db)) > 0);
      for (let i = 0; i < 3; i++) {
        await terminate();
        await new Promise((r) => setTimeout(r, 150));
      }
      // an outage: no new connections for 4 seconds
      await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS false`);
      await terminate();
      const during = await new Promise<number>((r) => setTimeout(() => r(0), 4_000));
      assert.equal(during, 0);
      assert.match(c.stderr(), /database write failed; retrying/);
      assert.equal(await readyz(), 503, "not ready while the database refuses connections");
      await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`);
      assert.equal((await producer.status).code, 0, producer.stderr());
      await waitUntil("everything stored", async () => (await total(db)) >= run.count, 90_000);
      assert.match(c.stderr(), /database writes succeed again/);
      assert.equal(await readyz(), 200, "ready again once writes succeed");
      c.kill("SIGTERM");
      assert.equal((await c.status).code, 0, "the consumer never exited on its own and stops cleanly");
    } finally {
      await admin.query(`ALTER DATABASE "${(new URL(db.url)).pathname.slice(1)}" ALLOW_CONNECTIONS true`).catch(
        () => {},
      );
      await admin.end();
    }
    await verify("database connections terminated 4×, 4 s outage (/readyz 503 meanwhile)", db, topic, messages);
  },
);

/** Whether scripts/kafka.sh started the broker (so the test may restart it). */
async function brokerOwnedByScript(): Promise<boolean> {
  const out = await new Deno.Command("bash", {
    args: [new URL("../scripts/kafka.sh", import.meta.url).pathname, "owned"],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

async function kafkaScript(command: "start" | "stop" | "owned"): Promise<void> {
  const out = await new Deno.Command("bash", {
    args: [new URL("../scripts/kafka.sh", import.meta.url).pathname, command],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

integrationTest("a Kafka broker restart during production and consumption loses and doubles nothing", async (t) => {
  if (!(await brokerOwnedByScript())) {
    if (Deno.env.get("CI") === "true") {
      throw new Error("CI must run Kafka with scripts/kafka.sh so it can be restarted");
    }
    console.warn("skipped: the broker was not started by scripts/kafka.sh, so the test cannot restart it");
    return;
  }
  await using db = await testDatabase();
  await using topic = testTopic();
  const run = liveRun({ seed: 13, count: 24_000, rate: 2_000, customers: 10 });
  const messages = simulate(run);
  const producer = await startProducer(topic.name, run);
  await using c = await consumer(db, topic, uniqueName("restart"));
  await waitUntil("some rows", async () => (await total(db)) > 2_000, 30_000);
  await t.step("broker stopped and started again", async () => {
    const t0 = Date.now();
    await kafkaScript("stop");
    console.error(`broker stopped in ${Date.now() - t0} ms`);
    await new Promise((r) => setTimeout(r, 2_000));
    await kafkaScript("start");
    console.error(`broker up again ${Date.now() - t0} ms after the stop began`);
  });
  const status = await Promise.race([
    producer.status,
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`producer still running 90 s after the restart:\n${producer.stderr().slice(-3000)}`)),
        90_000,
      )
    ),
  ]);
  assert.equal(status.code, 0, producer.stderr());
  await waitUntil("everything stored", async () => (await total(db)) >= run.count, 60_000)
    .catch((e) => Promise.reject(new Error(`${e.message}\n${c.stderr().slice(-6000)}`)));
  c.kill("SIGTERM");
  const stopped = await Promise.race([
    c.status,
    new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`consumer still running 30 s after SIGTERM:\n${c.stderr().slice(-6000)}`)),
        30_000,
      )
    ),
  ]);
  assert.equal(stopped.code, 0, c.stderr());
  await verify("Kafka broker restarted mid-run", db, topic, messages);
}, 240_000);

integrationTest(
  "two consumers in one group: when one is killed its partitions move to the other and nothing is lost or doubled",
  async () => {
    await using db = await testDatabase();
    await using topic = testTopic();
    const run = liveRun({ seed: 14, count: 30_000, rate: 3_000, customers: 24 });
    const messages = simulate(run);
    const producer = await startProducer(topic.name, run);
    const group = uniqueName("pair");
    await using a = await consumer(db, topic, group);
    await using b = await consumer(db, topic, group);
    await waitForSharing(a, b);
    await waitUntil("some rows", async () => (await total(db)) > 3_000, 30_000);
    a.kill("SIGKILL");
    await a.status;
    await waitForAllPartitions(b, "the survivor to take every partition");
    assert.equal((await producer.status).code, 0, producer.stderr());
    await waitUntil("everything stored", async () => (await total(db)) >= run.count, 90_000);
    b.kill("SIGTERM");
    assert.equal((await b.status).code, 0, b.stderr());
    await verify("2 consumers in a group, one SIGKILLed", db, topic, messages);
  },
  180_000,
);

integrationTest(
  "a member joining and another leaving gracefully under live load loses and doubles nothing",
  async () => {
    // the pipelined consumer returns from a batch before it is stored, so a rebalance no longer waits
    // for the old owner's writes: the new owner re-reads from the committed offset meanwhile
    await using db = await testDatabase();
    await using topic = testTopic();
    const run = liveRun({ seed: 16, count: 30_000, rate: 3_000, customers: 24 });
    const messages = simulate(run);
    const producer = await startProducer(topic.name, run);
    const group = uniqueName("rebalance");
    await using a = await consumer(db, topic, group);
    await waitForAllPartitions(a, "the first member to take every partition");
    await waitUntil("some rows", async () => (await total(db)) > 3_000, 30_000);
    await using b = await consumer(db, topic, group);
    await waitForSharing(a, b);
    await waitUntil("more rows", async () => (await total(db)) > 15_000, 60_000);
    a.kill("SIGTERM");
    assert.equal((await a.status).code, 0, a.stderr());
    await waitForAllPartitions(b, "the second member to take every partition");
    assert.equal((await producer.status).code, 0, producer.stderr());
    await waitUntil("everything stored", async () => (await total(db)) >= run.count, 90_000);
    b.kill("SIGTERM");
    assert.equal((await b.status).code, 0, b.stderr());
    await verify("2 consumers: one joins, one leaves (SIGTERM) under load", db, topic, messages);
  },
  180_000,
);

integrationTest(
  "SIGTERM makes the producer flush what it accepted and the consumer commit its last batch; both exit 0 promptly",
  async () => {
    await using db = await testDatabase();
    await using topic = testTopic();
    const run: Run = {
      seed: 15,
      count: 1_000_000,
      rate: 5_000,
      customers: 10,
      start: new Date(Date.now() + 500).toISOString(),
      invalidRate: 0.01,
    };
    const group = uniqueName("graceful");
    const producer = await startProducer(topic.name, run, ["--batch-size", "500"]);
    const c = await consumer(db, topic, group);
    await new Promise((r) => setTimeout(r, 3_000));
    const stopAt = Date.now();
    producer.kill("SIGTERM");
    const pStatus = await producer.status;
    const producerStopS = (Date.now() - stopAt) / 1000;
    assert.equal(pStatus.code, 0, producer.stderr());
    assert.ok(producerStopS < 10, `producer stopped in ${producerStopS} s`);
    const done = JSON.parse(producer.stderr().trim().split("\n").findLast((l) => l.includes('"msg":"done"'))!);
    assert.equal(done.acknowledged, done.sent, "every accepted message was acknowledged");
    assert.equal(await topicRecords(topic), done.sent, "the topic holds exactly what the producer accepted");
    // the consumer: stop it mid-flow, then check its committed offsets cover exactly what it stored
    await waitUntil("some rows", async () => (await total(db)) > 0, 30_000);
    const cStop = Date.now();
    c.kill("SIGTERM");
    assert.equal((await c.status).code, 0, c.stderr());
    assert.ok((Date.now() - cStop) / 1000 < 10);
    const stored = await db.query<{ p: number; next: string }>(
      `SELECT p, (max(o) + 1)::text AS next FROM (
       SELECT kafka_partition AS p, kafka_offset AS o FROM readings
       UNION ALL SELECT kafka_partition, kafka_offset FROM dead_letters) x GROUP BY p`,
    );
    const admin = topic.kafka.admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic.name] });
    await admin.disconnect();
    for (const s of stored) {
      const offset = committed?.partitions.find((p) => p.partition === s.p)?.offset;
      assert.equal(offset, s.next, `partition ${s.p}: committed offset follows the last stored record`);
    }
    // finish the run and check exactly-once over what was produced
    const messages = simulate({ ...run, count: done.sent });
    await using again = await consumer(db, topic, group);
    await waitForJoin(again);
    await waitUntil("everything stored", async () => (await total(db)) >= done.sent, 90_000);
    again.kill("SIGTERM");
    assert.equal((await again.status).code, 0);
    await verify(`graceful SIGTERM (producer ${producerStopS.toFixed(1)} s to exit)`, db, topic, messages);
  },
);

/** The hostile corpus: raw values and the first reason code each must get. */
function hostileCorpus(now: number): [string, Uint8Array | string | null, string][] {
  const ts = new Date(now - 60_000).toISOString();
  const base = { customer_id: "CUST-001", timestamp: ts, heart_rate: 72 };
  const j = (over: Record<string, unknown>, drop: string[] = []) => {
    const o: Record<string, unknown> = { ...base, ...over };
    for (const d of drop) delete o[d];
    return JSON.stringify(o);
  };
  const bytes = (...b: number[]) => new Uint8Array(b);
  /** The base reading with a heart rate JSON.stringify cannot write (the timestamp may contain "72" too). */
  const rawHeartRate = (raw: string) => {
    const text = j({});
    const out = text.replace(`"heart_rate":72`, `"heart_rate":${raw}`);
    if (out === text) throw new Error(`no heart_rate in ${text}`);
    return out;
  };
  return [
    ["empty", "", "empty"],
    ["tombstone", null, "empty"],
    ["binary", bytes(0xff, 0xfe, 0xfd, 0x00, 0x01), "not_utf8"],
    ["invalid 2-byte sequence", bytes(0x7b, 0xc3, 0x28, 0x7d), "not_utf8"],
    ["overlong encoding", bytes(0xc0, 0xaf), "not_utf8"],
    ["UTF-16 JSON", new Uint8Array(Buffer.from("\ufeff" + j({}), "utf16le")), "not_utf8"],
    ["lone surrogate bytes", bytes(0xed, 0xa0, 0x80), "not_utf8"],
    ["open brace", "{", "not_json"],
    ["truncated", j({}).slice(0, 30), "not_json"],
    ["NaN token", "NaN", "not_json"],
    ["NaN heart rate", rawHeartRate("NaN"), "not_json"],
    ["Infinity heart rate", rawHeartRate("Infinity"), "not_json"],
    ["undefined", "undefined", "not_json"],
    ["trailing garbage", j({}) + " x", "not_json"],
    ["single quotes", "{'customer_id':'CUST-001'}", "not_json"],
    ["deep nesting", "[".repeat(4000) + "]".repeat(4000), "not_object"],
    ["array", "[]", "not_object"],
    ["array of readings", `[${j({})}]`, "not_object"],
    ["string", '"CUST-001"', "not_object"],
    ["number", "42", "not_object"],
    ["null", "null", "not_object"],
    ["boolean", "true", "not_object"],
    ["huge string", j({ note: "x".repeat(20_000) }), "too_large"],
    ["900 KB payload", j({ note: "y".repeat(900_000) }), "too_large"],
    ["heart rate as numeric string", j({ heart_rate: "72" }), "wrong_type"],
    ["heart rate as word", j({ heart_rate: "seventy" }), "wrong_type"],
    ["heart rate boolean", j({ heart_rate: true }), "wrong_type"],
    ["heart rate null", j({ heart_rate: null }), "null_field"],
    ["heart rate negative", j({ heart_rate: -1 }), "heart_rate_out_of_range"],
    ["heart rate zero", j({ heart_rate: 0 }), "heart_rate_out_of_range"],
    ["heart rate absurd", j({ heart_rate: 1e6 }), "heart_rate_out_of_range"],
    ["heart rate 1e400", rawHeartRate("1e400"), "heart_rate_out_of_range"],
    ["heart rate 19.99", j({ heart_rate: 19.99 }), "heart_rate_out_of_range"],
    ["heart rate 300.5", j({ heart_rate: 300.5 }), "heart_rate_out_of_range"],
    ["missing customer_id", j({}, ["customer_id"]), "missing_field"],
    ["missing everything", "{}", "missing_field"],
    ["customer_id number", j({ customer_id: 123 }), "wrong_type"],
    ["SQL in customer_id", j({ customer_id: "'; DROP TABLE readings;--" }), "customer_id_invalid"],
    ["NUL in customer_id", j({ customer_id: "CUST\u0000001" }), "customer_id_invalid"],
    ["newline in customer_id", j({ customer_id: "CUST-001\n" }), "customer_id_invalid"],
    ["65-character customer_id", j({ customer_id: "C".repeat(65) }), "customer_id_invalid"],
    ["empty customer_id", j({ customer_id: "" }), "customer_id_invalid"],
    ["space separator, no zone", j({ timestamp: "2026-11-25 19:57:57" }), "timestamp_without_timezone"],
    ["no zone", j({ timestamp: "2026-11-25T19:57:57.123" }), "timestamp_without_timezone"],
    ["February 30", j({ timestamp: "2026-02-30T00:00:00Z" }), "timestamp_unparsable"],
    ["hour 25", j({ timestamp: "2026-11-25T25:00:00Z" }), "timestamp_unparsable"],
    ["RFC 2822 date", j({ timestamp: "Wed, 25 Nov 2026 19:57:57 GMT" }), "timestamp_unparsable"],
    ["epoch seconds as string", j({ timestamp: "1764100677" }), "timestamp_unparsable"],
    ["year 1900", j({ timestamp: "1900-01-01T00:00:00Z" }), "timestamp_unparsable"],
    ["epoch seconds as number", j({ timestamp: 1764100677 }), "wrong_type"],
    ["a century ahead", j({ timestamp: "2126-11-25T19:57:57Z" }), "timestamp_in_future"],
    ["ten minutes ahead", j({ timestamp: new Date(now + 600_000).toISOString() }), "timestamp_in_future"],
    [
      "duplicated heart_rate key",
      `{"customer_id":"CUST-001","timestamp":"${ts}","heart_rate":72,"heart_rate":400}`,
      "duplicate_key",
    ],
    ["reading_id not a UUID", j({ reading_id: "not-a-uuid" }), "reading_id_invalid"],
    ["is_anomaly as string", j({ is_anomaly: "yes" }), "wrong_type"],
  ];
}

integrationTest(
  "hostile bytes written straight onto the topic are dead-lettered with the right reason while the readings around them are stored",
  async () => {
    await using db = await testDatabase();
    await using topic = testTopic();
    const admin = topic.kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: topic.name, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const now = Date.now();
    const corpus = hostileCorpus(now);
    assert.ok(corpus.length >= 40, `${corpus.length} hostile messages`);
    const producer = topic.kafka.producer();
    await producer.connect();
    // one partition, sent in order: offset i is message i; a valid reading after every hostile one
    const sent: { value: Uint8Array | string | null; key: string | null; expect: string }[] = [];
    corpus.forEach(([, value, reason], i) => {
      sent.push({ value, key: i % 5 === 0 ? null : "CUST-001", expect: reason });
      const ok = {
        customer_id: `CUST-${100 + i}`,
        timestamp: new Date(now - 1000 * i).toISOString(),
        heart_rate: 60 + (i % 50) + 0.5,
      };
      sent.push({ value: JSON.stringify(ok), key: i % 7 === 0 ? null : ok.customer_id, expect: "stored" });
    });
    for (const s of sent) {
      await producer.send({
        topic: topic.name,
        messages: [{
          key: s.key,
          value: s.value === null ? null : typeof s.value === "string" ? s.value : Buffer.from(s.value),
        }],
      });
    }
    await using c = await consumer(db, topic, uniqueName("hostile"));
    await waitUntil("every message handled", async () => (await total(db)) >= sent.length);
    const letters = await db.query<{ o: string; reason: string; bytes: number; payload: string | null }>(
      "SELECT kafka_offset::text AS o, reason, payload_bytes AS bytes, encode(payload, 'hex') AS payload FROM dead_letters ORDER BY kafka_offset",
    );
    const byOffset = new Map(letters.map((l) => [Number(l.o), l]));
    sent.forEach((s, offset) => {
      const l = byOffset.get(offset);
      if (s.expect === "stored") assert.equal(l, undefined, `offset ${offset} is a valid reading`);
      else {
        assert.equal(l?.reason, s.expect, `offset ${offset} (${corpus[offset / 2]![0]})`);
        const raw = s.value === null
          ? null
          : Buffer.from(typeof s.value === "string" ? new TextEncoder().encode(s.value) : s.value).toString("hex");
        assert.equal(l.payload, raw, "the raw bytes are kept");
      }
    });
    const { readings } = await db.counts();
    assert.equal(readings, corpus.length);
    // and it is still running: one more valid reading gets stored
    await producer.send({
      topic: topic.name,
      messages: [{
        key: "CUST-999",
        value: JSON.stringify({ customer_id: "CUST-999", timestamp: new Date().toISOString(), heart_rate: 61 }),
      }],
    });
    await waitUntil(
      "the consumer to keep going",
      async () => (await db.counts()).readings === corpus.length + 1,
    );
    await producer.disconnect();
    c.kill("SIGTERM");
    assert.equal((await c.status).code, 0);
    table.push({
      scenario: `hostile corpus (${corpus.length} kinds) on the topic`,
      sent: sent.length + 1,
      stored: readings + 1,
      rejected: letters.length,
      lost: 0,
      duplicated: 0,
    });
  },
);

Deno.test({
  name: "fault table",
  fn() {
    if (table.length === 0) return;
    const lines = ["| scenario | sent | stored | rejected | lost | duplicated |", "|---|---|---|---|---|---|"];
    for (const r of table) {
      lines.push(`| ${r.scenario} | ${r.sent} | ${r.stored} | ${r.rejected} | ${r.lost} | ${r.duplicated} |`);
    }
    console.log(`\nFault table (${new Date().toISOString()}):\n${lines.join("\n")}\n`);
  },
});
