#!/usr/bin/env -S deno run --allow-net=127.0.0.1:5432 --allow-read=. --ignore-env
/**
 * Ways of writing a batch of readings, side by side, on the real PostgreSQL: the evidence behind
 * the proposed changes in docs/performance.md. Each variant writes the same valid readings (the
 * simulator's, validated by the consumer's validator) into a fresh database holding the
 * migrations, one transaction per batch, and the client's encoding is timed with it:
 *
 * - `repository`: the pipeline's own `Repository.writeBatch` (since migration 003: `INSERT ...
 *   SELECT FROM unnest($1::text[], ...) ON CONFLICT DO NOTHING RETURNING ...` feeding the upserts
 *   of the 5-second, 1-minute and hourly rollups in the same statement; the arrays sent in
 *   PostgreSQL's binary format);
 * - `rollup-5s`: the repository's statement with the 5-second rollup only (what the coarser two cost);
 * - `plain`: that INSERT alone, no rollup at all (what the rollups cost is the difference);
 * - `trigger-5s`: that INSERT with the statement trigger of migration 001 keeping only the
 *   5-second rollup (what the sink did before migration 003);
 * - `unnest-no-conflict`: the same unnest INSERT without `ON CONFLICT DO NOTHING` (its cost);
 * - `values`: multi-row `INSERT ... VALUES ($1, ...), (...) ON CONFLICT DO NOTHING` (split at
 *   PostgreSQL's 65,535 parameters);
 * - `copy-temp`: `COPY` into a temporary table, then `INSERT ... SELECT ... ON CONFLICT DO NOTHING`;
 * - `copy`: plain `COPY` into `readings` (no duplicate handling: the ceiling).
 *
 * `--writers N` keeps N transactions in flight on N connections (batches taken in turn).
 * `--tweaks collate-c,no-brin` alters the fresh schema first (`customer_id` in the "C" collation;
 * no BRIN index), to measure what each costs.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1:5432 --allow-read=. --ignore-env bench/insert_variants.ts \
 *   --rows 200000 --batch-sizes 1000,5000,20000,100000 --explain
 * ```
 *
 * @module
 */
// @ts-types="@types/pg"
import pg from "pg";
// @ts-types="@types/pg-copy-streams"
import { from as copyFrom } from "pg-copy-streams";
import { Buffer } from "node:buffer";
import { once } from "node:events";
import { parseArgs } from "node:util";
import { Repository, type StoredReading } from "../lib/storage/mod.ts";
import { insertReadingsSql } from "../lib/storage/_rollup_sql.ts";
import { freshDatabase, tableColumns } from "./db.ts";
import { table } from "./report.ts";
import { buildDataset, exampleReading, type ReadingColumns, readingColumns, readingLine } from "./rows.ts";

const PG_SERVER = "postgres://postgres@127.0.0.1:5432";
const VARIANTS = [
  "repository",
  "rollup-5s",
  "plain",
  "trigger-5s",
  "unnest-no-conflict",
  "values",
  "copy-temp",
  "copy",
] as const;
const TWEAKS: Record<string, string> = {
  "collate-c": `ALTER TABLE readings ALTER COLUMN customer_id TYPE text COLLATE "C"`,
  "no-brin": "DROP INDEX readings_recorded_at_brin",
};
type Variant = typeof VARIANTS[number];

type Row = StoredReading & { partition: number };

async function writeCopy(client: pg.PoolClient | pg.Client, sql: string, text: string): Promise<void> {
  const stream = client.query(copyFrom(sql));
  const done = Promise.race([once(stream, "finish"), once(stream, "error").then(([e]) => Promise.reject(e))]);
  stream.end(Buffer.from(text));
  await done;
}

/** Writes one batch with `variant`; returns rows inserted. */
async function writeBatch(
  variant: Variant,
  repo: Repository,
  client: pg.Client,
  columns: ReadingColumns,
  unnestSql: string,
  rollup5sSql: string,
  batch: Row[],
): Promise<number> {
  const names = columns.names.join(", ");
  const copyRows = () => batch.map((r) => readingLine(columns, { ...r, offset: Number(r.offset) })).join("");
  switch (variant) {
    case "repository":
      return (await repo.writeBatch(batch, [])).inserted;
    case "rollup-5s": {
      const arrays = columns.names.map((_, j) =>
        batch.map((r) => columns.values({ ...r, offset: Number(r.offset) })[j])
      );
      await client.query("BEGIN");
      const res = await client.query<{ inserted: number }>({ name: "rollup_5s", text: rollup5sSql, values: arrays });
      await client.query("COMMIT");
      return res.rows[0]?.inserted ?? 0;
    }
    case "plain":
    case "trigger-5s": {
      const arrays = columns.names.map((_, j) =>
        batch.map((r) => columns.values({ ...r, offset: Number(r.offset) })[j])
      );
      await client.query("BEGIN");
      const res = await client.query({ name: "plain", text: `${unnestSql} ON CONFLICT DO NOTHING`, values: arrays });
      await client.query("COMMIT");
      return res.rowCount ?? 0;
    }
    case "unnest-no-conflict": {
      const arrays = columns.names.map((_, j) =>
        batch.map((r) => columns.values({ ...r, offset: Number(r.offset) })[j])
      );
      await client.query("BEGIN");
      const res = await client.query({ name: "unnest_no_conflict", text: unnestSql, values: arrays });
      await client.query("COMMIT");
      return res.rowCount ?? 0;
    }
    case "values": {
      const perStatement = Math.floor(65_535 / columns.names.length);
      let inserted = 0;
      await client.query("BEGIN");
      for (let i = 0; i < batch.length; i += perStatement) {
        const part = batch.slice(i, i + perStatement);
        const values: unknown[] = [];
        const tuples = part.map((r) => {
          const v = columns.values({ ...r, offset: Number(r.offset) });
          const first = values.length;
          values.push(...v);
          return `(${v.map((_, j) => `$${first + j + 1}`).join(", ")})`;
        });
        const res = await client.query(
          `INSERT INTO readings (${names}) VALUES ${tuples.join(", ")} ON CONFLICT DO NOTHING`,
          values,
        );
        inserted += res.rowCount ?? 0;
      }
      await client.query("COMMIT");
      return inserted;
    }
    case "copy-temp": {
      await client.query("BEGIN");
      await client.query(
        "CREATE TEMP TABLE IF NOT EXISTS staging (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
      );
      await writeCopy(client, `COPY staging (${names}) FROM STDIN`, copyRows());
      const res = await client.query(
        `INSERT INTO readings (${names}) SELECT ${names} FROM staging ON CONFLICT DO NOTHING`,
      );
      await client.query("COMMIT");
      return res.rowCount ?? 0;
    }
    case "copy": {
      await client.query("BEGIN");
      await writeCopy(client, `COPY readings (${names}) FROM STDIN`, copyRows());
      await client.query("COMMIT");
      return batch.length;
    }
  }
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    args: Deno.args,
    options: {
      rows: { type: "string", default: "200000" },
      "batch-sizes": { type: "string", default: "1000,5000,20000,100000" },
      variants: { type: "string", default: VARIANTS.join(",") },
      customers: { type: "string", default: "1000" },
      explain: { type: "boolean", default: false },
      tweaks: { type: "string", default: "" },
      writers: { type: "string", default: "1" },
    },
  });
  const rows = Number(v.rows);
  const batchSizes = v["batch-sizes"].split(",").map(Number);
  const variants = v.variants.split(",") as Variant[];
  for (const x of variants) {
    if (!VARIANTS.includes(x)) throw new TypeError(`Cannot run variant ${x}: expected one of ${VARIANTS.join(", ")}`);
  }
  const writers = Number(v.writers);
  const tweaks = v.tweaks.split(",").filter((t) => t !== "");
  for (const t of tweaks) {
    if (TWEAKS[t] === undefined) {
      throw new TypeError(`Cannot apply tweak ${t}: expected one of ${Object.keys(TWEAKS).join(", ")}`);
    }
  }
  const id = Date.now().toString(36);
  let columns: ReadingColumns;
  {
    await using scratch = await freshDatabase(PG_SERVER, `bench_variants_schema_${id}`);
    columns = readingColumns(await tableColumns(scratch.url, "readings"), exampleReading());
  }
  const data = buildDataset(
    {
      topic: "heartbeat-readings",
      count: Math.ceil(rows / 0.99) + 100,
      seed: 1,
      customers: Number(v.customers),
      rate: 100_000,
      startMs: Date.now() - 3_600_000,
      anomalyRate: 0.002,
      invalidRate: 0.01,
      partitions: 6,
    },
    columns,
    5000,
    rows,
  );
  const all: Row[] = data.sample.slice(0, rows).map((r) => ({ ...r, offset: String(r.offset) }));
  console.error(`${all.length} readings, columns: ${columns.names.join(", ")}`);

  const out: string[][] = [];
  for (const variant of variants) {
    for (const size of batchSizes) {
      await using db = await freshDatabase(PG_SERVER, `bench_variants_${variant.replace("-", "_")}_${size}_${id}`);
      const repo = Repository.connect(db.url, { poolSize: writers });
      const clients = Array.from({ length: writers }, () => new pg.Client({ connectionString: db.url }));
      await Promise.all(clients.map((c) => c.connect()));
      const client = clients[0]!;
      try {
        for (const t of tweaks) await client.query(TWEAKS[t]!);
        if (variant === "trigger-5s") {
          await client.query(
            `CREATE TRIGGER readings_5s_add AFTER INSERT ON readings REFERENCING NEW TABLE AS new_readings
            FOR EACH STATEMENT EXECUTE FUNCTION readings_5s_add()`,
          );
        }
        const types = await client.query<{ column_name: string; udt_name: string }>(
          "SELECT column_name, udt_name FROM information_schema.columns WHERE table_name = 'readings'",
        );
        const typeOf = new Map(types.rows.map((t) => [t.column_name, t.udt_name]));
        const cols = columns.names;
        const unnestSql = `INSERT INTO readings (${cols.join(", ")})
          SELECT * FROM unnest(${cols.map((c, j) => `$${j + 1}::${typeOf.get(c)}[]`).join(", ")})`;
        const rollup5sSql = insertReadingsSql(cols, cols.map((c) => typeOf.get(c)!), ["5s"]);
        const times: number[] = [];
        let inserted = 0;
        const began = performance.now();
        // `writers` connections take the next batch in turn: that many transactions in flight
        let nextBatch = 0;
        await Promise.all(clients.map(async (c) => {
          for (let i = nextBatch; i < all.length; i = nextBatch) {
            nextBatch += size;
            const t = performance.now();
            const n = await writeBatch(variant, repo, c, columns, unnestSql, rollup5sSql, all.slice(i, i + size));
            inserted += n; // not `inserted += await ...`: that reads `inserted` before another writer adds to it
            times.push(performance.now() - t);
          }
        }));
        const ms = performance.now() - began;
        if (inserted !== all.length) throw new Error(`${variant} inserted ${inserted} of ${all.length}`);
        times.sort((a, b) => a - b);
        const p50 = times[Math.floor(times.length / 2)] ?? NaN;
        out.push([
          variant,
          size.toLocaleString("en-US"),
          Math.round(all.length / (ms / 1000)).toLocaleString("en-US"),
          p50.toFixed(1),
          (times.at(-1) ?? NaN).toFixed(1),
        ]);
        console.error(`${variant} ${size}: ${Math.round(all.length / (ms / 1000))} rows/s`);
        if (v.explain && variant === "repository" && size === batchSizes[0]) {
          // the statement the repository runs, on one more batch, with the table already full
          const extra = data.sample.slice(0, size).map((r) => ({
            ...r,
            recordedAt: new Date(Date.parse(r.recordedAt) + 86_400_000).toISOString(),
          }));
          const arrays = cols.map((_, j) => extra.map((r) => columns.values(r)[j]));
          const sql = `EXPLAIN (ANALYZE, BUFFERS, WAL) ${unnestSql} ON CONFLICT DO NOTHING`;
          const plan = await client.query<{ "QUERY PLAN": string }>(sql, arrays);
          console.log(`\nEXPLAIN ANALYZE of one ${size}-row unnest INSERT into ${all.length} rows:\n`);
          console.log(plan.rows.map((r) => r["QUERY PLAN"]).join("\n"));
        }
      } finally {
        await Promise.all(clients.map((c) => c.end()));
        await repo.close();
      }
    }
  }
  console.log(
    `\n${all.length.toLocaleString("en-US")} readings, one transaction per batch, fresh database each${
      tweaks.length > 0 ? `, schema tweaks: ${tweaks.join(", ")}` : ""
    }, ${writers} writer${writers === 1 ? "" : "s"} (transactions in flight):\n`,
  );
  console.log(table(["variant", "batch", "rows/s", "p50 batch ms", "max batch ms"], out));
}

if (import.meta.main) await main();
