/**
 * The migration runner (lib/storage/migrations.ts) against a real PostgreSQL, each case in a
 * throw-away database and, where a case needs its own migrations, a temporary folder (written by
 * subprocesses, so the tests need no --allow-write): a fresh database gets every migration and a
 * second run is a no-op; a changed applied migration, a gap or a duplicate is refused with nothing
 * applied; a database made by the schema.sql of before the migrations is adopted with its data
 * untouched; a failing migration leaves nothing behind; two runs at once apply each migration
 * once; a no-transaction migration runs outside a transaction; roles.sql's grants cover tables of
 * later migrations; and sql/initdb.sql (docker-compose's path) makes the same database.
 */
import assert from "node:assert/strict";
// @ts-types="@types/pg"
import pg from "pg";
import {
  ensureDatabase,
  migrateDatabase,
  MigrationError,
  type MigrationResult,
  readMigrations,
  SQL_MIGRATIONS,
  SQL_ROLES,
} from "../lib/storage/mod.ts";
import { sha256Hex } from "../lib/storage/migration_files.ts";
import { MIGRATION_LOCK_KEY } from "../lib/storage/migrations.ts";
import { dropDatabase, PG_SERVER, uniqueDatabaseUrl } from "./support/database.ts";
import { integrationTest, spawnTask, waitUntil } from "./support/helpers.ts";

const BASELINE_FILE = new URL("001_baseline.sql", SQL_MIGRATIONS);
const BASELINE = await Deno.readTextFile(BASELINE_FILE);
const BASELINE_SUM = await sha256Hex(await Deno.readFile(BASELINE_FILE));
const ROLES = await Deno.readTextFile(SQL_ROLES);
/** The project's migrations, in order: what a fresh database gets. */
const ALL = await readMigrations(SQL_MIGRATIONS);
const LATEST = ALL.at(-1)!.version;
const NAMES = ALL.map((m) => m.file);
const INITDB = new URL("../sql/initdb.sql", import.meta.url);
const sum = async (text: string) => await sha256Hex(new TextEncoder().encode(text));

/** Runs a command and returns its stdout; throws with its stderr when it fails. */
async function run(command: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(command, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  if (!out.success) throw new Error(`${command} ${args.join(" ")} failed: ${text(out.stderr)}`);
  return text(out.stdout);
}

/** A temporary migrations folder, deleted on dispose. */
interface Folder extends AsyncDisposable {
  path: string;
  /** Writes (or overwrites) a file in it. */
  write(name: string, sql: string): Promise<void>;
}

async function migrationsFolder(files: Record<string, string>): Promise<Folder> {
  const path = (await run("mktemp", ["-d", "-t", "heartbeat-migrations.XXXXXXXX"])).trim();
  const write = (name: string, sql: string) =>
    run("bash", ["-c", 'cat >"$1"', "_", `${path}/${name}`], sql).then(() => {});
  for (const [name, sql] of Object.entries(files)) await write(name, sql);
  return { path, write, [Symbol.asyncDispose]: () => run("rm", ["-rf", "--", path]).then(() => {}) };
}

/** An empty throw-away database and a client on it as a superuser; dropped on dispose. */
interface Db extends AsyncDisposable {
  url: string;
  client: pg.Client;
  rows<R extends object>(sql: string, values?: unknown[]): Promise<R[]>;
  /** The rows of schema_migrations (without applied_at), or null when it does not exist. */
  migrations(): Promise<{ version: number; name: string; checksum: string; adopted: boolean }[] | null>;
  exists(table: string): Promise<boolean>;
}

async function emptyDatabase(): Promise<Db> {
  const url = uniqueDatabaseUrl("heartbeat_migrations");
  await ensureDatabase(url);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const rows = async <R extends object>(sql: string, values: unknown[] = []) =>
    (await client.query(sql, values)).rows as R[];
  const exists = async (table: string) =>
    (await rows<{ found: boolean }>("SELECT to_regclass($1) IS NOT NULL AS found", [table]))[0]?.found ?? false;
  return {
    url,
    client,
    rows,
    exists,
    async migrations() {
      if (!(await exists("schema_migrations"))) return null;
      return await rows("SELECT version, name, checksum, adopted FROM schema_migrations ORDER BY version");
    },
    async [Symbol.asyncDispose]() {
      await client.end();
      await dropDatabase(url);
    },
  };
}

/** A log that keeps its lines. */
function memoryLog(): { lines: string[]; info(msg: string): void } {
  const lines: string[] = [];
  return { lines, info: (msg: string) => void lines.push(msg) };
}

/** The error a promise rejects with (fails when it resolves). */
async function refusal(promise: Promise<unknown>): Promise<MigrationError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  assert.ok(error instanceof MigrationError, `expected a MigrationError, got ${error}`);
  return error;
}

// ---------------------------------------------------------------------------------------------

integrationTest(
  "a fresh database gets every migration, each recorded with its name and checksum; a second run is a no-op",
  async (t) => {
    await using db = await emptyDatabase();
    const log = memoryLog();
    const began = new Date();
    const first = await migrateDatabase(db.url, {}, { migrations: SQL_MIGRATIONS, roles: SQL_ROLES, log });

    await t.step("every migration applied, in order, and recorded", async () => {
      assert.deepEqual(first, { version: LATEST, applied: NAMES, adopted: null } satisfies MigrationResult);
      assert.deepEqual(
        await db.migrations(),
        ALL.map((m) => ({ version: m.version, name: m.file, checksum: m.checksum, adopted: false })),
      );
      assert.equal(ALL[0]!.checksum, BASELINE_SUM);
      const [row] = await db.rows<{ applied_at: Date }>("SELECT min(applied_at) AS applied_at FROM schema_migrations");
      assert.ok(
        row!.applied_at >= new Date(began.getTime() - 1000) && row!.applied_at <= new Date(),
        "applied_at is now",
      );
      for (const table of ["readings", "dead_letters", "alerts", "readings_5s"]) {
        assert.ok(await db.exists(table), table);
      }
      assert.deepEqual(log.lines, [
        ...NAMES.map((n) => `applied migration ${n}`),
        "applied the roles and grants",
        `applied ${NAMES.length} migration(s): schema is at version ${LATEST}`,
      ]);
    });

    await t.step("a second run applies nothing and says the schema is up to date", async () => {
      const before = await db.rows("SELECT * FROM schema_migrations ORDER BY version");
      const again = memoryLog();
      const second = await migrateDatabase(db.url, {}, { migrations: SQL_MIGRATIONS, roles: SQL_ROLES, log: again });
      assert.deepEqual(second, { version: LATEST, applied: [], adopted: null });
      assert.deepEqual(again.lines, ["applied the roles and grants", `schema is up to date at version ${LATEST}`]);
      assert.deepEqual(await db.rows("SELECT * FROM schema_migrations ORDER BY version"), before);
    });
  },
);

integrationTest(
  "a migration changed after it was applied is refused, naming the file and both checksums, and nothing is applied",
  async () => {
    await using db = await emptyDatabase();
    const original = "CREATE TABLE a (id integer);\n";
    await using folder = await migrationsFolder({ "001_a.sql": original });
    await migrateDatabase(db.url, {}, { migrations: folder.path });
    const changed = "CREATE TABLE a (id bigint);\n";
    await folder.write("001_a.sql", changed);
    await folder.write("002_b.sql", "CREATE TABLE b (id integer);\n");

    const error = await refusal(migrateDatabase(db.url, {}, { migrations: folder.path }));
    assert.equal(
      error.message,
      `Cannot migrate: 001_a.sql was changed after it was applied (applied sha-256 ${await sum(
        original,
      )}, file sha-256 ${await sum(
        changed,
      )}); restore it and put the change in a new migration`,
    );
    assert.equal(error.file, "001_a.sql");
    assert.ok(!error.message.includes("\n"), "one line");
    assert.equal(await db.exists("b"), false, "002_b.sql was not applied");
    assert.deepEqual((await db.migrations())?.map((m) => m.name), ["001_a.sql"]);
  },
);

integrationTest("deno task db:migrate refuses a changed applied migration with one line and exit code 1", async () => {
  await using db = await emptyDatabase();
  await migrateDatabase(db.url, {}, { migrations: SQL_MIGRATIONS, roles: SQL_ROLES });
  const recorded = "0".repeat(64);
  await db.rows("UPDATE schema_migrations SET checksum = $1 WHERE version = 1", [recorded]);
  await using migrate = await spawnTask("db:migrate", [], { DATABASE_ADMIN_URL: db.url });
  const status = await migrate.status;
  assert.equal(status.code, 1, migrate.stderr());
  const lines = migrate.stderr().trim().split("\n");
  assert.equal(
    lines.at(-1),
    `error: migration failed for ${db.url}: Cannot migrate: 001_baseline.sql was changed after it was applied (applied sha-256 ${recorded}, file sha-256 ${BASELINE_SUM}); restore it and put the change in a new migration`,
  );
});

integrationTest(
  "a database made by the schema.sql of before the migrations is adopted as the baseline and upgraded, its data untouched",
  async (t) => {
    await using db = await emptyDatabase();
    // what db:migrate did before the migrations: schema.sql (now 001_baseline.sql, byte for byte) and roles.sql
    await db.client.query(BASELINE);
    await db.client.query(ROLES);
    // what the consumer of before the migrations wrote: plain INSERTs, the 5-second rollup by its trigger
    await db.client.query(
      `INSERT INTO readings (customer_id, recorded_at, heart_rate, is_anomaly, category, reported_anomaly, reading_id,
                             kafka_partition, kafka_offset)
       SELECT 'CUST-' || lpad((i % 7)::text, 3, '0'), timestamptz '2026-11-25T12:00:00Z' + i * interval '1 second',
              50 + i % 60, 50 + i % 60 NOT BETWEEN 60 AND 100,
              CASE WHEN 50 + i % 60 < 60 THEN 'bradycardia' WHEN 50 + i % 60 > 100 THEN 'tachycardia' ELSE 'normal' END,
              CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 0 END, CASE WHEN i % 5 = 0 THEN NULL ELSE gen_random_uuid() END,
              i % 6, i
       FROM generate_series(0, 499) AS i`,
    );
    await db.client.query(
      `INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, kafka_key, kafka_timestamp, payload, payload_bytes,
                                 reason, reasons)
       VALUES ('heartbeat-readings', 1, 42, NULL, '2026-11-25T12:00:00Z', '\\x7b', 1, 'not_json',
               '[{"code": "not_json", "detail": "truncated"}]')`,
    );
    await db.client.query(
      `INSERT INTO alerts (customer_id, kind, started_at, opened_at, last_at, peak, reading_count, severity)
     VALUES ('CUST-001', 'bradycardia', '2026-11-25T12:00:00Z', '2026-11-25T12:00:05Z', '2026-11-25T12:00:09Z', 52, 6, 'warning')`,
    );
    const fingerprint = async () =>
      await db.rows<Record<string, string>>(
        `SELECT (SELECT count(*) || ':' || md5(string_agg(r::text, '|' ORDER BY customer_id, recorded_at)) FROM readings r) AS readings,
              (SELECT count(*) || ':' || md5(string_agg((d.topic, d.kafka_partition, d.kafka_offset, d.kafka_key, d.kafka_timestamp, d.payload, d.payload_bytes, d.reason, d.reasons, d.rejected_at)::text, '|' ORDER BY kafka_offset)) FROM dead_letters d) AS dead_letters,
              (SELECT count(*) || ':' || md5(string_agg(a::text, '|' ORDER BY started_at)) FROM alerts a) AS alerts`,
      );
    const before = await fingerprint();
    assert.match(before[0]!.readings!, /^500:/);
    const [old5s] = await db.rows<{ n: number }>("SELECT sum(readings)::int AS n FROM readings_5s");
    assert.equal(old5s!.n, 500);

    const log = memoryLog();
    const result = await migrateDatabase(db.url, {}, { migrations: SQL_MIGRATIONS, roles: SQL_ROLES, log });

    await t.step(
      "version 1 is recorded as adopted, without running it, the later ones applied, and the log says so",
      async () => {
        assert.deepEqual(result, { version: LATEST, applied: NAMES.slice(1), adopted: "001_baseline.sql" });
        assert.deepEqual(
          await db.migrations(),
          ALL.map((m) => ({ version: m.version, name: m.file, checksum: m.checksum, adopted: m.version === 1 })),
        );
        assert.equal(
          log.lines[0],
          "adopted the existing schema as 001_baseline.sql without running it: its tables exist and schema_migrations did not",
        );
        assert.equal(log.lines.at(-1), `applied ${NAMES.length - 1} migration(s): schema is at version ${LATEST}`);
      },
    );
    await t.step("every row is as it was", async () => assert.deepEqual(await fingerprint(), before));
    await t.step("the old 5-second rollup's totals live on in the coarser ones, past its 7 days", async () => {
      const [sums] = await db.rows<{ m: number; h: number }>(
        "SELECT (SELECT sum(readings)::int FROM readings_1m) AS m, (SELECT sum(readings)::int FROM readings_1h) AS h",
      );
      assert.deepEqual(sums, { m: 500, h: 500 });
    });
    await t.step("the old dead letters are counted in the dead-letter rollups by reason", async () => {
      const counts = await db.rows<{ t: string; reason: string; n: number }>(
        `SELECT '1m' AS t, reason, sum(rejected)::int AS n FROM dead_letters_1m GROUP BY 1, 2
         UNION ALL SELECT '1h', reason, sum(rejected)::int FROM dead_letters_1h GROUP BY 1, 2 ORDER BY 1`,
      );
      assert.deepEqual(counts, [{ t: "1h", reason: "not_json", n: 1 }, { t: "1m", reason: "not_json", n: 1 }]);
    });
    await t.step("the next run is a no-op", async () => {
      const again = await migrateDatabase(db.url, {}, { migrations: SQL_MIGRATIONS, roles: SQL_ROLES });
      assert.deepEqual(again, { version: LATEST, applied: [], adopted: null });
    });
  },
);

integrationTest("a database with only some of the baseline tables is refused, not adopted", async () => {
  await using db = await emptyDatabase();
  await db.client.query("CREATE TABLE readings (x integer)");
  const error = await refusal(migrateDatabase(db.url, {}, { migrations: SQL_MIGRATIONS }));
  assert.equal(
    error.message,
    "Cannot adopt the database as a baseline: it has readings but not dead_letters, alerts, readings_5s, and no schema_migrations; apply sql/migrations/001_baseline.sql to it with psql (it is idempotent), then migrate again",
  );
  assert.equal(await db.migrations(), null, "nothing recorded");
});

integrationTest(
  "a failing migration is rolled back: no partial table, no schema_migrations row, and the error names the file",
  async () => {
    await using db = await emptyDatabase();
    await using folder = await migrationsFolder({
      "001_a.sql": "CREATE TABLE a (id integer);\n",
      "002_half.sql": "CREATE TABLE half (x integer);\nINSERT INTO half VALUES (1);\nINSERT INTO hlaf VALUES (2);\n",
      "003_c.sql": "CREATE TABLE c (id integer);\n",
    });
    const error = await refusal(migrateDatabase(db.url, {}, { migrations: folder.path }));
    assert.equal(
      error.message,
      `Cannot apply migration 002_half.sql: relation "hlaf" does not exist at line 3; its transaction was rolled back, nothing of it is applied`,
    );
    assert.equal(error.file, "002_half.sql");
    assert.equal((error.cause as { code?: string }).code, "42P01", "the cause is PostgreSQL's error");
    assert.equal(await db.exists("half"), false, "no partial table");
    assert.equal(await db.exists("c"), false, "nothing after it");
    assert.deepEqual((await db.migrations())?.map((m) => m.name), ["001_a.sql"], "the migration before it stays");

    // a migration that failed was never applied: fixing it is allowed, and the next run applies it and the rest
    await folder.write("002_half.sql", "CREATE TABLE half (x integer);\nINSERT INTO half VALUES (1);\n");
    const fixed = await migrateDatabase(db.url, {}, { migrations: folder.path });
    assert.deepEqual(fixed.applied, ["002_half.sql", "003_c.sql"]);
  },
);

integrationTest(
  "two runs at once apply each migration once: the second waits for the lock and finds nothing to do",
  async () => {
    await using db = await emptyDatabase();
    await using folder = await migrationsFolder({
      "001_a.sql": "CREATE TABLE a (id integer);\nINSERT INTO a VALUES (1);\n",
      "002_b.sql": "INSERT INTO a VALUES (2);\n",
    });
    // hold the lock, start both runs, and let go once both wait for it: they then race for it
    await db.rows("SELECT pg_advisory_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
    const logs = [memoryLog(), memoryLog()];
    const runs = logs.map((log) => migrateDatabase(db.url, {}, { migrations: folder.path, log }));
    try {
      await waitUntil("both runs to wait for the migration lock", async () => {
        const [row] = await db.rows<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'heartbeat-migrate' AND wait_event_type = 'Lock'`,
        );
        return row?.n === 2;
      }, 30_000);
    } finally {
      await db.rows("SELECT pg_advisory_unlock($1::bigint)", [MIGRATION_LOCK_KEY]);
    }
    const results = await Promise.all(runs);
    assert.deepEqual(results.map((r) => r.applied).sort((a, b) => b.length - a.length), [
      ["001_a.sql", "002_b.sql"],
      [],
    ]);
    for (const log of logs) {
      assert.equal(log.lines[0], "another db:migrate is running on this database; waiting for it to finish");
    }
    assert.deepEqual((await db.migrations())?.map((m) => m.version), [1, 2]);
    assert.deepEqual((await db.rows<{ id: number }>("SELECT id FROM a ORDER BY id")).map((r) => r.id), [1, 2]);
  },
);

integrationTest(
  "two deno task db:migrate at once on a database that does not exist yet both succeed, one creating it",
  async () => {
    const url = uniqueDatabaseUrl("heartbeat_migrations");
    try {
      const runs = await Promise.all([0, 1].map(() => spawnTask("db:migrate", [], { DATABASE_ADMIN_URL: url })));
      const statuses = await Promise.all(runs.map((r) => r.status));
      for (const [i, status] of statuses.entries()) assert.equal(status.code, 0, runs[i]!.stderr());
      const logs = runs.map((r) => r.stderr()).join("\n");
      assert.equal(logs.match(/"msg":"created the database"/g)?.length, 1, logs);
      assert.equal(logs.match(/"msg":"applied migration 001_baseline\.sql"/g)?.length, 1, logs);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query("SELECT version, name FROM schema_migrations");
        assert.deepEqual(rows, ALL.map((m) => ({ version: m.version, name: m.file })));
      } finally {
        await client.end();
      }
    } finally {
      await dropDatabase(url);
    }
  },
);

integrationTest(
  "a version gap, a duplicate version or a badly named file is refused before the database is touched",
  async (t) => {
    const cases: [string, Record<string, string>, string][] = [
      [
        "a gap",
        { "001_a.sql": "CREATE TABLE a ();", "003_c.sql": "CREATE TABLE c ();" },
        "Cannot order the migrations: version 2 is missing (after 001_a.sql comes 003_c.sql); versions run 1, 2, 3, … without a gap",
      ],
      [
        "a duplicate",
        { "001_a.sql": "CREATE TABLE a ();", "002_b.sql": "CREATE TABLE b ();", "002_c.sql": "CREATE TABLE c ();" },
        "Cannot order the migrations: version 2 is in two files, 002_b.sql and 002_c.sql; renumber one",
      ],
      [
        "a badly named file",
        { "001_a.sql": "CREATE TABLE a ();", "2_b.sql": "CREATE TABLE b ();" },
        "Cannot read migration 2_b.sql: a migration's name is NNN_name.sql (three or more digits, a lower-case name)",
      ],
    ];
    for (const [name, files, message] of cases) {
      await t.step(name, async () => {
        await using db = await emptyDatabase();
        await using folder = await migrationsFolder(files);
        const error = await refusal(migrateDatabase(db.url, {}, { migrations: folder.path }));
        assert.equal(error.message, message);
        assert.equal(await db.migrations(), null, "no schema_migrations: the database was not touched");
        assert.equal(await db.exists("a"), false);
      });
    }
    await t.step("files that are not .sql are ignored", async () => {
      await using db = await emptyDatabase();
      await using folder = await migrationsFolder({ "001_a.sql": "CREATE TABLE a ();", "README.md": "notes" });
      assert.deepEqual((await migrateDatabase(db.url, {}, { migrations: folder.path })).applied, ["001_a.sql"]);
    });
  },
);

integrationTest(
  "a -- migrate: no-transaction migration runs outside a transaction; without the header it cannot",
  async (t) => {
    const index = "CREATE INDEX CONCURRENTLY a_id ON a (id);\nCREATE INDEX CONCURRENTLY a_id_desc ON a (id DESC);\n";
    await t.step("with the header: applied statement by statement and recorded", async () => {
      await using db = await emptyDatabase();
      await using folder = await migrationsFolder({
        "001_a.sql": "CREATE TABLE a (id integer);\n",
        "002_index.sql": `-- builds indexes without locking out writes\n-- migrate: no-transaction\n${index}`,
      });
      const result = await migrateDatabase(db.url, {}, { migrations: folder.path });
      assert.deepEqual(result.applied, ["001_a.sql", "002_index.sql"]);
      assert.ok(await db.exists("a_id") && await db.exists("a_id_desc"));
      assert.deepEqual((await db.migrations())?.map((m) => m.name), ["001_a.sql", "002_index.sql"]);
    });
    await t.step("without it: refused by PostgreSQL in the migration's transaction, nothing applied", async () => {
      await using db = await emptyDatabase();
      await using folder = await migrationsFolder({
        "001_a.sql": "CREATE TABLE a (id integer);\n",
        "002_index.sql": index,
      });
      const error = await refusal(migrateDatabase(db.url, {}, { migrations: folder.path }));
      assert.match(
        error.message,
        /^Cannot apply migration 002_index\.sql: CREATE INDEX CONCURRENTLY cannot run inside a transaction block/,
      );
      assert.equal(await db.exists("a_id"), false);
      assert.deepEqual((await db.migrations())?.map((m) => m.name), ["001_a.sql"]);
    });
    await t.step("a failure names the file and says what stays applied", async () => {
      await using db = await emptyDatabase();
      await using folder = await migrationsFolder({
        "001_a.sql": "CREATE TABLE a (id integer);\n",
        "002_index.sql": `-- migrate: no-transaction\n${index}CREATE INDEX CONCURRENTLY nope ON missing (id);\n`,
      });
      const error = await refusal(migrateDatabase(db.url, {}, { migrations: folder.path }));
      assert.match(
        error.message,
        /^Cannot apply migration 002_index\.sql: relation "missing" does not exist; it runs without a transaction \(-- migrate: no-transaction\), so the 2 statement\(s\) before statement 3 of 3 \("CREATE INDEX CONCURRENTLY nope ON missin…"\) stay applied;/,
      );
      assert.deepEqual((await db.migrations())?.map((m) => m.name), ["001_a.sql"], "not recorded");
    });
  },
);

integrationTest(
  "roles.sql, applied after the migrations on every run, grants on tables a later migration made",
  async () => {
    await using db = await emptyDatabase();
    await using folder = await migrationsFolder({
      "001_baseline.sql": BASELINE,
      "002_later.sql": "CREATE TABLE later_table (x integer);\nINSERT INTO later_table VALUES (7);\n",
    });
    await migrateDatabase(db.url, {}, { migrations: folder.path, roles: SQL_ROLES });
    const name = new URL(db.url).pathname.slice(1);
    const reader = new pg.Client({
      connectionString: `postgres://grafana_reader:grafana_reader@127.0.0.1:5432/${name}`,
    });
    await reader.connect();
    try {
      assert.deepEqual((await reader.query("SELECT x FROM later_table")).rows, [{ x: 7 }]);
      assert.deepEqual((await reader.query("SELECT version FROM schema_migrations ORDER BY 1")).rows, [
        { version: 1 },
        { version: 2 },
      ]);
    } finally {
      await reader.end();
    }
  },
);

integrationTest("roles.sql racing another session over the same role is tried again, not failed", async () => {
  await using db = await emptyDatabase();
  // roles belong to the server: another database's db:migrate (or test) may ALTER the same role at
  // once. Hold that row in an open transaction, let the run wait on it, then commit: the run's
  // ALTER ROLE fails with "tuple concurrently updated", and it tries the file again
  const other = new pg.Client({ connectionString: `${PG_SERVER}/postgres` });
  await other.connect();
  const log = memoryLog();
  let run: Promise<MigrationResult> | undefined;
  try {
    if ((await other.query("SELECT FROM pg_roles WHERE rolname = 'grafana_reader'")).rowCount === 0) {
      // a server that never had the roles: make them through another throw-away database
      await using setup = await emptyDatabase();
      await migrateDatabase(setup.url, {}, { migrations: SQL_MIGRATIONS, roles: SQL_ROLES });
    }
    await other.query("BEGIN");
    await other.query("ALTER ROLE grafana_reader SET default_transaction_read_only = on");
    run = migrateDatabase(db.url, {}, { migrations: SQL_MIGRATIONS, roles: SQL_ROLES, log });
    await waitUntil("the run to wait on the role's row", async () => {
      const [row] = await db.rows<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE application_name = 'heartbeat-migrate' AND datname = current_database() AND wait_event_type = 'Lock'`,
      );
      return row?.n === 1;
    }, 30_000);
  } finally {
    await other.query("COMMIT").catch(() => {});
    await other.end();
  }
  const result = await run!;
  assert.deepEqual(result.applied, NAMES);
  assert.ok(
    log.lines.includes("the roles file raced another session over the same roles; trying again"),
    log.lines.join("\n"),
  );
  assert.ok(log.lines.includes("applied the roles and grants"));
});

integrationTest(
  "sql/initdb.sql, run by psql as docker-compose's initdb runs it, makes the database db:migrate makes",
  async () => {
    await using viaPsql = await emptyDatabase();
    await using viaRunner = await emptyDatabase();
    for (const file of [INITDB, SQL_ROLES]) {
      await run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", viaPsql.url, "-f", file.pathname]);
    }
    await migrateDatabase(viaRunner.url, {}, { migrations: SQL_MIGRATIONS, roles: SQL_ROLES });
    // pg_dump's \restrict lines carry a random key per dump
    const dump = async (url: string) =>
      (await run("pg_dump", ["--schema-only", "--no-owner", "-d", url])).replace(/^\\(un)?restrict .*$/gm, "");
    assert.equal(await dump(viaPsql.url), await dump(viaRunner.url));
    assert.deepEqual(await viaPsql.migrations(), await viaRunner.migrations());
    const result = await migrateDatabase(viaPsql.url, {}, { migrations: SQL_MIGRATIONS, roles: SQL_ROLES });
    assert.deepEqual(result, { version: LATEST, applied: [], adopted: null }, "db:migrate finds it up to date");
  },
);
