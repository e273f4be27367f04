#!/usr/bin/env -S deno run --allow-net=127.0.0.1:9092 --allow-read=. --ignore-env
/**
 * Measurement prototype (not used by the pipeline): can one producer process send more readings/s
 * with Web Workers, each with its own idempotent kafkajs producer? Every worker
 * (`bench/producer_worker.ts`) runs the same full, deterministic simulator and publishes only the
 * messages whose customer's partition (kafkajs' default partitioner) modulo the worker count is its
 * index, so the topic receives exactly the messages one producer would send, each customer's in
 * order, and each partition is written by one producer.
 *
 * For each `--workers` count (a comma-separated list is run in turn, `--repeat` times) it fills a
 * fresh topic, prints acknowledged readings/s from the first send to the last acknowledgement
 * (workers connect first and start together), the process's CPU, and checks that the topic then
 * holds exactly `--count` records, partition by partition as the simulator's keys say.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:9092 --allow-read=. --ignore-env bench/producer_workers.ts \
 *   --workers 1,2,3 --count 500000 --customers 1000 --invalid-rate 0.01 --repeat 2
 * ```
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { Simulator } from "../lib/simulator/simulator.ts";
import { connectAdmin } from "./kafka.ts";
import { table } from "./report.ts";
import { partitionOf, type WorkerDone, type WorkerStart } from "./producer_worker.ts";

const { values: v } = parseArgs({
  args: Deno.args,
  options: {
    workers: { type: "string", default: "1,2,3" },
    count: { type: "string", default: "500000" },
    customers: { type: "string", default: "1000" },
    "invalid-rate": { type: "string", default: "0.01" },
    "anomaly-rate": { type: "string", default: "0.002" },
    seed: { type: "string", default: "1" },
    rate: { type: "string", default: "100000" },
    start: { type: "string" },
    partitions: { type: "string", default: "6" },
    "batch-size": { type: "string", default: "2000" },
    "linger-ms": { type: "string", default: "20" },
    repeat: { type: "string", default: "1" },
    broker: { type: "string", default: "127.0.0.1:9092" },
  },
});
const count = Number(v.count);
const partitions = Number(v.partitions);
const startMs = v.start === undefined ? Date.now() - 3_600_000 : Date.parse(v.start);
if (!Number.isFinite(startMs)) throw new Error(`--start: not a date: ${v.start}`);
if (startMs + count / Number(v.rate) * 1000 > Date.now()) {
  console.error("warning: --start is too recent: the run will be paced to the wall clock, not backfill");
}
const simulator = {
  seed: Number(v.seed),
  customers: Number(v.customers),
  rate: Number(v.rate),
  startMs,
  anomalyRate: Number(v["anomaly-rate"]),
  invalidRate: Number(v["invalid-rate"]),
};

// the expected records per partition, from the simulator's keys (not timed)
const expected = new Array<number>(partitions).fill(0);
{
  const sim = new Simulator(simulator);
  const byKey = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const { key } = sim.next();
    let p = byKey.get(key);
    if (p === undefined) byKey.set(key, p = partitionOf(key, partitions));
    expected[p]!++;
  }
}
console.error(`expected records per partition: ${expected.join(", ")}`);

interface Result {
  workers: number;
  perSecond: number;
  seconds: number;
  cpu: number;
  shares: number[];
  workerRates: number[];
  ok: boolean;
}

async function runOnce(workers: number): Promise<Result> {
  const topic = `bench-producer-workers-${workers}-${Date.now().toString(36)}`;
  await using admin = await connectAdmin(v.broker);
  await admin.createTopic(topic, partitions);
  const pool = Array.from(
    { length: workers },
    () => new Worker(new URL("./producer_worker.ts", import.meta.url).href, { type: "module" }),
  );
  try {
    const ready = pool.map((w) => waitFor(w, "ready"));
    pool.forEach((w, index) => {
      const start: WorkerStart = {
        type: "start",
        index,
        workers,
        partitions,
        topic,
        broker: v.broker,
        count,
        batchSize: Number(v["batch-size"]),
        lingerMs: Number(v["linger-ms"]),
        simulator,
      };
      w.postMessage(start);
    });
    await Promise.all(ready);
    const done = pool.map((w) => waitFor(w, "done") as Promise<WorkerDone>);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const w of pool) w.postMessage({ type: "go" });
    const results = await Promise.all(done);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const first = Math.min(...results.map((r) => r.firstSendAt));
    const last = Math.max(...results.map((r) => r.ackedAt));
    const acked = results.reduce((s, r) => s + r.acknowledged, 0);
    const ms = last - first;
    // verification: the topic holds exactly --count records, each partition what the keys say
    const offsets = await admin.admin.fetchTopicOffsets(topic);
    const have = new Array<number>(partitions).fill(0);
    for (const o of offsets) have[o.partition] = Number(BigInt(o.high) - BigInt(o.low));
    const total = have.reduce((s, n) => s + n, 0);
    const ok = total === count && acked === count && have.every((n, i) => n === expected[i]);
    console.error(
      `workers ${workers}: ${acked} acknowledged in ${(ms / 1000).toFixed(2)} s = ${
        Math.round(acked / ms * 1000)
      }/s (driver clock ${(wallMs / 1000).toFixed(2)} s); process CPU ${
        Math.round((cpu.user + cpu.system) / 1000 / wallMs * 100)
      }% of a core; topic ${total} records [${have.join(", ")}] ${ok ? "OK" : "MISMATCH"}`,
    );
    return {
      workers,
      perSecond: acked / ms * 1000,
      seconds: ms / 1000,
      cpu: (cpu.user + cpu.system) / 1000 / wallMs * 100,
      shares: results.map((r) => r.sent),
      workerRates: results.map((r) => r.acknowledged / (r.ackedAt - r.firstSendAt) * 1000),
      ok,
    };
  } finally {
    for (const w of pool) w.terminate();
    await admin.deleteTopics([topic]).catch(() => {});
  }
}

function waitFor(worker: Worker, type: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const onMessage = (e: MessageEvent<{ type: string; error?: string }>) => {
      if (e.data.type === type) {
        worker.removeEventListener("message", onMessage);
        resolve(e.data);
      } else if (e.data.type === "error") {
        worker.removeEventListener("message", onMessage);
        reject(new Error(`worker failed: ${e.data.error}`));
      }
    };
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", (e) => reject(e.error ?? new Error(e.message)), { once: true });
  });
}

const counts = v.workers.split(",").map(Number);
const rows: string[][] = [];
let allOk = true;
for (let r = 0; r < Number(v.repeat); r++) {
  for (const workers of counts) {
    const res = await runOnce(workers);
    allOk &&= res.ok;
    rows.push([
      String(workers),
      String(r + 1),
      Math.round(res.perSecond).toLocaleString("en-US"),
      res.seconds.toFixed(2),
      `${Math.round(res.cpu)}%`,
      res.shares.map((n) => n.toLocaleString("en-US")).join(" / "),
      res.workerRates.map((n) => Math.round(n).toLocaleString("en-US")).join(" / "),
      res.ok ? "exact" : "MISMATCH",
    ]);
  }
}
console.log(
  `\n${count.toLocaleString("en-US")} readings, ${v.customers} customers, invalid rate ${
    v["invalid-rate"]
  }, ${partitions} partitions; idempotent, acks=all, gzip, ${v["batch-size"]} a request:\n`,
);
console.log(
  table([
    "workers",
    "run",
    "acked readings/s",
    "seconds",
    "process CPU",
    "messages per worker",
    "per-worker readings/s",
    "topic",
  ], rows),
);
if (!allOk) Deno.exit(1);
