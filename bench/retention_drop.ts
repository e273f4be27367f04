/**
 * Retention while the consumer writes: on a database filled by `deno task bench:dashboard --end
 * now` (30 days of daily partitions), a writer stores 1,000-reading batches through the
 * consumer's own `Repository.writeBatch` without pause while the readings' retention window is set
 * one day shorter and `heartbeat_maintain()` drops the oldest day. Prints the maintenance call's
 * time, what it dropped, and the writer's batch times before and around the drop; then puts the
 * window back to 30 days.
 *
 * ```sh
 * deno task bench:retention [--database heartbeat_bench_dashboard]
 * ```
 *
 * Requires `--allow-net=127.0.0.1:5432` (PostgreSQL as `postgres`, trust).
 *
 * @module
 */
import { parseArgs } from "node:util";
// @ts-types="@types/pg"
import pg from "pg";
import { Repository, type StoredReading } from "../lib/storage/mod.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: { database: { type: "string", default: "heartbeat_bench_dashboard" } },
});
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(flags.database)) {
  console.error(`error: Invalid --database: expected a lower-case SQL name, got ${JSON.stringify(flags.database)}`);
  Deno.exit(2);
}
const URL_ = `postgres://postgres@127.0.0.1:5432/${flags.database}`;

if (import.meta.main) {
  const repo = Repository.connect(URL_, { poolSize: 2 });
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  try {
    const { rows: [first] } = await admin.query<{ name: string; lo: Date }>(
      "SELECT name, lo FROM heartbeat_partition_list('readings') WHERE NOT is_default ORDER BY lo LIMIT 1",
    );
    if (first === undefined) throw new Error("Cannot drop a day: the database has no readings partition");
    const days = Math.floor((Date.now() - first.lo.getTime()) / 86_400_000);
    await admin.query(`UPDATE heartbeat_partitions SET retention = '${days - 1} days' WHERE parent = 'readings'`);
    let writing = true, offset = 0;
    const times: number[] = [];
    const writer = (async () => {
      while (writing) {
        const now = Date.now();
        const rows: StoredReading[] = Array.from({ length: 1000 }, (_, k) => ({
          customerId: `CUST-W${k % 50}`,
          recordedAt: new Date(now - 1000 + k).toISOString(),
          recordedAtMs: now - 1000 + k,
          heartRate: 70,
          isAnomaly: false,
          category: "normal",
          reportedAnomaly: null,
          readingId: null,
          partition: 0,
          offset: String(offset++),
        }));
        const t = performance.now();
        await repo.writeBatch(rows, []);
        times.push(performance.now() - t);
      }
    })();
    await new Promise((r) => setTimeout(r, 3000));
    const before = times.length;
    const t0 = performance.now();
    const { rows: actions } = await admin.query<{ action: string; partition_name: string }>(
      "SELECT * FROM heartbeat_maintain()",
    );
    const maintainMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 3000));
    writing = false;
    await writer;
    const sorted = [...times].sort((a, b) => a - b);
    console.log(JSON.stringify({
      dropped: actions.filter((a) => a.action === "drop").map((a) => a.partition_name),
      skipped: actions.filter((a) => a.action === "skipped").map((a) => a.partition_name),
      maintainMs: Math.round(maintainMs),
      batches: times.length,
      medianBatchMs: Math.round(sorted[Math.floor(sorted.length / 2)] ?? NaN),
      maxBatchMsBefore: Math.round(Math.max(...times.slice(0, before))),
      maxBatchMsAround: Math.round(Math.max(...times.slice(Math.max(0, before - 5)))),
    }));
  } finally {
    await admin.query("UPDATE heartbeat_partitions SET retention = '30 days' WHERE parent = 'readings'");
    await admin.end();
    await repo.close();
  }
}
