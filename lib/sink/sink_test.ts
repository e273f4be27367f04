import assert from "node:assert/strict";
import { createLogger } from "../ops/log.ts";
import { createValidator } from "../domain/reading.ts";
import type { SourceRecord } from "../domain/source_record.ts";
import { DataError, type DeadLetter, type StoredReading, type WriteResult } from "../storage/mod.ts";
import { type BatchStats, Sink } from "./mod.ts";

const quiet = createLogger({ level: "error", pretty: false, write: () => {} });
const encoder = new TextEncoder();

function record(partition: number, offset: number, value: string | null): SourceRecord {
  return {
    topic: "t",
    partition,
    offset: String(offset),
    key: encoder.encode("CUST-001"),
    value: value === null ? null : encoder.encode(value),
    timestampMs: 0,
  };
}

const reading = (n: number, hr = 70) =>
  `{"customer_id":"CUST-${n}","timestamp":"2026-01-01T00:00:${String(n % 60).padStart(2, "0")}Z","heart_rate":${hr}}`;

/** A store double that records every call and fails on demand. */
class FakeStore {
  calls: { readings: StoredReading[]; deadLetters: DeadLetter[] }[] = [];
  stored: StoredReading[] = [];
  letters: DeadLetter[] = [];
  failures: unknown[] = [];
  /** ms each write waits before it answers. */
  delayMs = 0;
  refuse: (r: StoredReading) => boolean = () => false;

  async writeBatch(readings: StoredReading[], deadLetters: DeadLetter[]): Promise<WriteResult> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    return await this.#write(readings, deadLetters);
  }

  #write(readings: StoredReading[], deadLetters: DeadLetter[]): Promise<WriteResult> {
    this.calls.push({ readings, deadLetters });
    const failure = this.failures.shift();
    if (failure !== undefined) return Promise.reject(failure);
    if (readings.some(this.refuse)) {
      return Promise.reject(new DataError("value out of range", "22003"));
    }
    this.stored.push(...readings);
    this.letters.push(...deadLetters);
    return Promise.resolve({
      inserted: readings.length,
      duplicates: 0,
      rejected: deadLetters.length,
      rejectedDuplicates: 0,
    });
  }
}

function sink(store: FakeStore, options: Partial<ConstructorParameters<typeof Sink>[0]> = {}) {
  return new Sink({
    store,
    validate: createValidator({}, () => Date.UTC(2026, 0, 2)),
    batchSize: 100,
    batchWaitMs: 5,
    log: quiet,
    initialRetryMs: 1,
    maxRetryMs: 4,
    ...options,
  });
}

Deno.test("Sink.submit() resolves only after the batch holding its records is written", async () => {
  const store = new FakeStore();
  const s = sink(store);
  let done = false;
  const p = s.submit([record(0, 0, reading(1))]).then(() => done = true);
  assert.equal(store.calls.length, 0);
  assert.equal(done, false);
  await p;
  assert.equal(store.calls.length, 1);
  assert.equal(store.stored.length, 1);
});

Deno.test("Sink groups submissions from several partitions into one transaction", async () => {
  const store = new FakeStore();
  const s = sink(store, { batchWaitMs: 20 });
  await Promise.all([0, 1, 2].map((p) => s.submit([record(p, 10, reading(p)), record(p, 11, reading(p + 10))])));
  assert.equal(store.calls.length, 1);
  assert.equal(store.calls[0]!.readings.length, 6);
  assert.deepEqual(store.calls[0]!.readings.map((r) => `${r.partition}:${r.offset}`).sort(), [
    "0:10",
    "0:11",
    "1:10",
    "1:11",
    "2:10",
    "2:11",
  ]);
});

Deno.test("Sink writes at once when a batch reaches batchSize, without waiting batchWaitMs", async () => {
  const store = new FakeStore();
  const s = sink(store, { batchSize: 3, batchWaitMs: 60_000 });
  await s.submit([0, 1, 2].map((i) => record(0, i, reading(i))));
  assert.equal(store.calls.length, 1);
});

Deno.test("Sink sends invalid records to the dead letters with their raw bytes, position and reasons", async () => {
  const store = new FakeStore();
  const stats: BatchStats[] = [];
  const s = sink(store, { onBatch: (b) => stats.push(b) });
  await s.submit([
    record(3, 7, "not json"),
    record(3, 8, reading(1, 400)),
    record(3, 9, null),
    record(3, 10, reading(2)),
  ]);
  assert.deepEqual(store.letters.map((l) => [l.partition, l.offset, l.reasons[0]!.code]), [
    [3, "7", "not_json"],
    [3, "8", "heart_rate_out_of_range"],
    [3, "9", "empty"],
  ]);
  assert.equal(new TextDecoder().decode(store.letters[0]!.value!), "not json");
  assert.equal(store.stored.length, 1);
  assert.deepEqual(stats[0]!.reasons, { not_json: 1, heart_rate_out_of_range: 1, empty: 1 });
  assert.equal(stats[0]!.records, 4);
});

Deno.test("Sink retries connection failures with backoff, reports not ready meanwhile, and loses nothing", async () => {
  const store = new FakeStore();
  const lost = Object.assign(new Error("Connection terminated unexpectedly"), {});
  store.failures.push(
    lost,
    lost,
    Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" }),
  );
  const readiness: boolean[] = [];
  let keepAlives = 0;
  const stats: BatchStats[] = [];
  const s = sink(store, { onReadyChange: (r) => readiness.push(r), onBatch: (b) => stats.push(b) });
  await s.submit([record(0, 0, reading(1)), record(0, 1, reading(2))], () => {
    keepAlives++;
    return Promise.resolve();
  });
  assert.equal(store.calls.length, 4);
  assert.equal(store.stored.length, 2);
  assert.deepEqual(readiness, [false, true]);
  assert.equal(keepAlives, 3);
  assert.equal(stats[0]!.retries, 3);
  assert.equal(s.ready, true);
});

Deno.test("Sink isolates a record the database refuses and stores it as rejected_by_database, storing the rest", async () => {
  const store = new FakeStore();
  store.refuse = (r) => r.customerId === "CUST-5";
  const s = sink(store);
  const records = Array.from({ length: 10 }, (_, i) => record(1, 100 + i, reading(i)));
  records.push(record(1, 200, "[]"));
  await s.submit(records);
  assert.deepEqual(
    store.stored.map((r) => r.customerId).sort(),
    [0, 1, 2, 3, 4, 6, 7, 8, 9].map((i) => `CUST-${i}`).sort(),
  );
  const refused = store.letters.find((l) => l.reasons[0]!.code === "rejected_by_database");
  assert.ok(refused);
  assert.equal(refused.offset, "105");
  assert.equal(new TextDecoder().decode(refused.value!), reading(5));
  assert.match(refused.reasons[0]!.detail, /value out of range/);
  assert.ok(store.letters.some((l) => l.offset === "200" && l.reasons[0]!.code === "not_object"));
});

Deno.test("Sink.submit() rejects when its signal aborts while the database is down, so offsets stay uncommitted", async () => {
  const store = new FakeStore();
  for (let i = 0; i < 1000; i++) store.failures.push(new Error("connect ECONNREFUSED 127.0.0.1:5432"));
  const controller = new AbortController();
  const s = sink(store, { signal: controller.signal, maxRetryMs: 2 });
  const p = s.submit([record(0, 0, reading(1))]);
  setTimeout(() => controller.abort(new DOMException("stop", "AbortError")), 30);
  await assert.rejects(p, { name: "AbortError" });
  assert.equal(store.stored.length, 0);
  assert.equal(s.ready, false);
});

Deno.test("Sink.close() writes what is pending", async () => {
  const store = new FakeStore();
  const s = sink(store, { batchWaitMs: 60_000 });
  const p = s.submit([record(0, 0, reading(1))]);
  await s.close();
  await p;
  assert.equal(store.stored.length, 1);
  await assert.rejects(s.submit([record(0, 1, reading(2))]), /closed/);
});

/** A store whose writes stay open until the test lets them finish, counting how many overlap. */
class GatedStore extends FakeStore {
  open = 0;
  mostOpen = 0;
  gates: (() => void)[] = [];
  /** The readings of each write, in the order the writes started. */
  started: StoredReading[][] = [];

  override async writeBatch(readings: StoredReading[], deadLetters: DeadLetter[]): Promise<WriteResult> {
    this.started.push(readings);
    this.open++;
    this.mostOpen = Math.max(this.mostOpen, this.open);
    await new Promise<void>((resolve) => this.gates.push(resolve));
    this.open--;
    return super.writeBatch(readings, deadLetters);
  }

  /** Resolves once `n` writes are waiting at their gate. */
  async waiting(n: number): Promise<void> {
    while (this.gates.length < n) await new Promise((r) => setTimeout(r, 1));
  }
}

Deno.test("Sink keeps at most `writers` transactions in flight, each with whole submissions", async (t) => {
  for (const writers of [1, 2, 3]) {
    await t.step(`writers=${writers}`, async () => {
      const store = new GatedStore();
      const s = sink(store, { batchSize: 2, batchWaitMs: 60_000, writers });
      const done = [0, 1, 2, 3].map((p) => s.submit([record(p, 0, reading(p)), record(p, 1, reading(p + 10))]));
      await store.waiting(Math.min(writers, 4));
      await new Promise((r) => setTimeout(r, 5)); // room for a write that should not start
      assert.equal(store.open, writers);
      while (store.gates.length > 0 || store.open > 0) {
        store.gates.shift()?.();
        await new Promise((r) => setTimeout(r, 1));
      }
      await Promise.all(done);
      assert.equal(store.mostOpen, writers);
      assert.equal(store.calls.length, 4);
      for (const call of store.calls) assert.equal(new Set(call.readings.map((r) => r.partition)).size, 1);
      assert.equal(store.stored.length, 8);
      assert.equal(s.pending, 0);
    });
  }
});

Deno.test("Sink.close() writes what is queued and waits for every transaction in flight", async () => {
  const store = new GatedStore();
  const s = sink(store, { batchSize: 1, batchWaitMs: 60_000, writers: 2 });
  const submitted = [0, 1, 2].map((p) => s.submit([record(p, 0, reading(p))]));
  await store.waiting(2);
  let closed = false;
  const closing = s.close().then(() => closed = true);
  for (const expectedOpen of [2, 2]) {
    await store.waiting(expectedOpen);
    assert.equal(store.open, expectedOpen);
    store.gates.shift()!();
    await new Promise((r) => setTimeout(r, 2));
    assert.equal(closed, false);
  }
  assert.equal(store.open, 1);
  store.gates.shift()!();
  await Promise.all([...submitted, closing]);
  assert.equal(closed, true);
  assert.equal(store.stored.length, 3);
});

Deno.test("Sink refuses a writers count below 1", () => {
  for (const writers of [0, -1, 1.5]) {
    assert.throws(() => sink(new FakeStore(), { writers }), /writers must be a whole number of at least 1/);
  }
});

Deno.test("Sink reads not ready while a write stalls past stallMs, and ready again once it ends", async (t) => {
  const cases: [string, number, boolean[]][] = [
    ["a write that outlasts the stall bound", 120, [false, true]],
    ["a write within it", 5, []],
  ];
  for (const [name, delayMs, expected] of cases) {
    await t.step(name, async () => {
      const store = new FakeStore();
      store.delayMs = delayMs;
      const changes: boolean[] = [];
      const s = sink(store, { stallMs: 40, onReadyChange: (r) => changes.push(r) });
      await s.submit([record(0, 0, reading(1))]);
      assert.deepEqual(changes, expected);
      assert.equal(s.ready, true);
      assert.equal(store.stored.length, 1, "the stalled write is not abandoned: it stores its batch");
    });
  }
});

Deno.test("Sink stays not ready while any writer fails, even when another writer's step succeeds", async () => {
  const store = new GatedStore();
  const changes: boolean[] = [];
  const s = sink(store, { batchSize: 1, batchWaitMs: 60_000, writers: 2, onReadyChange: (r) => changes.push(r) });
  const lost = Object.assign(new Error("terminating connection"), { code: "57P01" });
  store.failures.push(lost, lost, lost);
  const a = s.submit([record(0, 0, reading(1))]);
  const b = s.submit([record(1, 0, reading(2))]);
  await store.waiting(2);
  store.gates.shift()!(); // the first write fails and retries
  await new Promise((r) => setTimeout(r, 2));
  assert.equal(s.ready, false);
  store.gates.shift()!(); // the second fails too
  await new Promise((r) => setTimeout(r, 2));
  assert.equal(s.ready, false);
  // one of the two retries fails once more, the other succeeds: still a writer failing
  await store.waiting(2);
  store.gates.shift()!();
  store.gates.shift()!();
  await new Promise((r) => setTimeout(r, 2));
  assert.equal(s.ready, false);
  while (!s.ready) {
    store.gates.shift()?.();
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all([a, b]);
  assert.deepEqual(changes, [false, true]);
  assert.equal(store.stored.length, 2);
});

Deno.test("Sink is ready again when a write that failed on the connection ends in a data error", async () => {
  let calls = 0;
  const store = {
    writeBatch(): Promise<WriteResult> {
      calls++;
      const error = calls === 1
        ? Object.assign(new Error("terminating connection"), { code: "57P01" })
        : new DataError("value out of range", "22003");
      return Promise.reject(error);
    },
  };
  const s = new Sink({
    store,
    validate: createValidator({}, () => Date.UTC(2026, 0, 2)),
    batchSize: 1,
    batchWaitMs: 5,
    log: quiet,
    initialRetryMs: 1,
    maxRetryMs: 4,
  });
  await assert.rejects(s.submit([record(0, 0, reading(1))]), /value out of range/);
  assert.equal(calls, 3); // the connection failure, the refused reading, the refused dead letter
  assert.equal(s.ready, true);
});

Deno.test("Sink never writes a partition in two transactions at once; its later submissions wait, in order", async () => {
  const store = new GatedStore();
  const s = sink(store, { batchSize: 2, batchWaitMs: 60_000, writers: 2 });
  // partition 0 three times, then partition 1: the second writer must take partition 1, not 0's next
  const done = [
    s.submit([record(0, 0, reading(1)), record(0, 1, reading(2))]),
    s.submit([record(0, 2, reading(3)), record(0, 3, reading(4))]),
    s.submit([record(0, 4, reading(5)), record(0, 5, reading(6))]),
    s.submit([record(1, 0, reading(7)), record(1, 1, reading(8))]),
  ];
  await store.waiting(2);
  await new Promise((r) => setTimeout(r, 5)); // room for a write that should not start
  assert.equal(store.open, 2);
  const partitionsOf = (readings: StoredReading[]) => [...new Set(readings.map((r) => r.partition))];
  assert.deepEqual(store.started.map(partitionsOf), [[0], [1]]);
  while (store.gates.length > 0 || store.open > 0) {
    store.gates.shift()?.();
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(done);
  // partition 0's batches went one after the other, in offset order
  const offsets0 = store.started.filter((w) => partitionsOf(w)[0] === 0).map((w) => w.map((r) => r.offset));
  assert.deepEqual(offsets0, [["0", "1"], ["2", "3"], ["4", "5"]]);
  assert.equal(s.pending, 0);
});

Deno.test("Sink.pendingBytes counts the key and value bytes accepted and not yet committed", async () => {
  const store = new GatedStore();
  const s = sink(store, { batchSize: 2, batchWaitMs: 60_000, writers: 1 });
  const first = [record(0, 0, reading(1)), record(0, 1, "x".repeat(1000))];
  const second = [record(1, 0, null)];
  const bytesOf = (rs: SourceRecord[]) =>
    rs.reduce((n, r) => n + (r.key?.byteLength ?? 0) + (r.value?.byteLength ?? 0), 0);
  const a = s.submit(first);
  const b = s.submit(second);
  await store.waiting(1);
  assert.equal(s.pendingBytes, bytesOf(first) + bytesOf(second)); // one batch writing, one queued
  assert.ok(s.pendingBytes > 1000);
  store.gates.shift()!();
  await a;
  await new Promise((r) => setTimeout(r, 1)); // the write's bookkeeping runs after its waiters
  assert.equal(s.pendingBytes, bytesOf(second));
  const closed = s.close(); // writes the queued one
  await store.waiting(1);
  store.gates.shift()!();
  await Promise.all([b, closed]);
  assert.equal(s.pendingBytes, 0);
});

Deno.test("Sink stores a refused reading's own bytes, key and timestamp, copied from the record as it came", async (t) => {
  const rows: { name: string; key: Uint8Array | null; timestampMs: number | null }[] = [
    { name: "a key and a timestamp", key: encoder.encode("CUST-5"), timestampMs: 1_767_225_600_123 },
    { name: "no key", key: null, timestampMs: 0 },
    { name: "an empty key and no timestamp", key: new Uint8Array(0), timestampMs: null },
  ];
  for (const row of rows) {
    await t.step(row.name, async () => {
      const store = new FakeStore();
      store.refuse = (r) => r.customerId === "CUST-5";
      const s = sink(store);
      // one buffer for all values, as kafkajs slices its fetch buffer: prepare() must copy out of it
      const values = [reading(4), reading(5), reading(6)];
      const fetched = encoder.encode(values.join(""));
      let at = 0;
      const records = values.map((v, i): SourceRecord => {
        const value = fetched.subarray(at, at += v.length);
        return {
          topic: `topic-${i}`,
          partition: 3,
          offset: String(40 + i),
          key: row.key,
          value,
          timestampMs: row.timestampMs,
        };
      });
      const prepared = s.prepare(records);
      fetched.fill(0); // the fetch buffer is reused or freed: what was prepared must not change
      await s.submit(prepared);
      assert.equal(store.stored.length, 2);
      const refused = store.letters.find((l) => l.reasons[0]!.code === "rejected_by_database");
      assert.ok(refused);
      assert.deepEqual(
        { ...refused, value: new TextDecoder().decode(refused.value!), reasons: undefined },
        {
          topic: "topic-1",
          partition: 3,
          offset: "41",
          key: row.key,
          value: reading(5),
          timestampMs: row.timestampMs,
          reasons: undefined,
        },
      );
    });
  }
});

Deno.test("Sink.prepare() copies the bytes of invalid records, so that the fetch buffer can go", async () => {
  const store = new FakeStore();
  const s = sink(store);
  const fetched = encoder.encode("not json");
  const prepared = s.prepare([{ ...record(0, 7, null), value: fetched }]);
  fetched.fill(0);
  await s.submit(prepared);
  assert.equal(new TextDecoder().decode(store.letters[0]!.value!), "not json");
  await assert.rejects(s.submit(prepared), /submitted before/);
});
