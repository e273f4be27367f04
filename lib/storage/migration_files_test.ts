import assert from "node:assert/strict";
import {
  type AppliedMigration,
  MigrationError,
  type MigrationFile,
  migrationFile,
  orderMigrations,
  parseMigrationName,
  pendingMigrations,
  runsInTransaction,
  sha256Hex,
  splitStatements,
} from "./migration_files.ts";
import { bundleMigrations } from "./migration_bundle.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const file = (version: number, name: string, checksum = `sum${version}`): MigrationFile => ({
  version,
  file: name,
  sql: `-- ${name}\n`,
  checksum,
  transaction: true,
});

Deno.test("a migration file name is NNN_name.sql: three or more digits, a lower-case name", async (t) => {
  const cases: [string, { version: number; name: string } | null][] = [
    ["001_baseline.sql", { version: 1, name: "baseline" }],
    ["002_partition_readings.sql", { version: 2, name: "partition_readings" }],
    ["1000_x2.sql", { version: 1000, name: "x2" }],
    ["01_short.sql", null],
    ["001-dash.sql", null],
    ["001_Upper.sql", null],
    ["001_.sql", null],
    ["001_x.sql.bak", null],
    ["001_x.SQL", null],
    ["baseline.sql", null],
  ];
  for (const [name, expected] of cases) {
    await t.step(name, () => assert.deepEqual(parseMigrationName(name), expected));
  }
});

Deno.test("a migration's checksum is the SHA-256 of its bytes, in lower-case hex", async () => {
  assert.equal(await sha256Hex(bytes("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(await sha256Hex(bytes("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const m = await migrationFile("001_a.sql", bytes("CREATE TABLE a ();\n"));
  assert.deepEqual(m, {
    version: 1,
    file: "001_a.sql",
    sql: "CREATE TABLE a ();\n",
    checksum: await sha256Hex(bytes("CREATE TABLE a ();\n")),
    transaction: true,
  });
  const crlf = await migrationFile("001_a.sql", bytes("CREATE TABLE a ();\r\n"));
  assert.notEqual(crlf.checksum, m.checksum, "the bytes, not a normalised text");
});

Deno.test("a migration file that is badly named or not UTF-8 is refused, naming the file", async (t) => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["2_x.sql", bytes("SELECT 1"), /^Cannot read migration 2_x\.sql: a migration's name is NNN_name\.sql/],
    ["001_x.sql", new Uint8Array([0x53, 0xff, 0x3b]), /^Cannot read migration 001_x\.sql: it is not UTF-8$/],
  ];
  for (const [name, content, message] of cases) {
    await t.step(name, async () => {
      const error = await migrationFile(name, content).then(() => null, (e: unknown) => e);
      assert.ok(error instanceof MigrationError);
      assert.match(error.message, message);
      assert.equal(error.file, name);
    });
  }
});

Deno.test("a migration runs in a transaction unless its header says -- migrate: no-transaction", async (t) => {
  const cases: [string, string, boolean][] = [
    ["no header", "CREATE TABLE a ();", true],
    ["a header without the marker", "-- adds a\n\nCREATE TABLE a ();", true],
    [
      "the marker in the header",
      "-- adds an index\n-- migrate: no-transaction\nCREATE INDEX CONCURRENTLY i ON a (x);",
      false,
    ],
    ["the marker without a space, any case", "--Migrate: No-Transaction\nSELECT 1;", false],
    ["the marker after the first statement", "SELECT 1;\n-- migrate: no-transaction\n", true],
    ["the marker inside a longer comment", "-- do not say migrate: no-transaction here\nSELECT 1;", true],
  ];
  for (const [name, sql, expected] of cases) {
    await t.step(name, () => assert.equal(runsInTransaction(sql), expected));
  }
});

Deno.test("migrations are ordered by version; a gap, a duplicate or a first version other than 1 is refused", async (t) => {
  await t.step("ordered by version, not by listing order", () => {
    const ordered = orderMigrations([file(3, "003_c.sql"), file(1, "001_a.sql"), file(2, "002_b.sql")]);
    assert.deepEqual(ordered.map((f) => f.file), ["001_a.sql", "002_b.sql", "003_c.sql"]);
  });
  await t.step("no files is no migrations", () => assert.deepEqual(orderMigrations([]), []));
  const refusals: [string, MigrationFile[], string][] = [
    [
      "a gap",
      [file(1, "001_a.sql"), file(3, "003_c.sql")],
      "Cannot order the migrations: version 2 is missing (after 001_a.sql comes 003_c.sql); versions run 1, 2, 3, … without a gap",
    ],
    [
      "a first version other than 1",
      [file(2, "002_b.sql")],
      "Cannot order the migrations: version 1 is missing (the first file comes 002_b.sql); versions run 1, 2, 3, … without a gap",
    ],
    [
      "a duplicate",
      [file(1, "001_a.sql"), file(2, "002_b.sql"), file(2, "002_a.sql")],
      "Cannot order the migrations: version 2 is in two files, 002_a.sql and 002_b.sql; renumber one",
    ],
  ];
  for (const [name, files, message] of refusals) {
    await t.step(name, () => assert.throws(() => orderMigrations(files), { name: "MigrationError", message }));
  }
});

Deno.test("pending migrations are the files not applied yet; a changed, renamed or unknown applied one is refused", async (t) => {
  const files = [file(1, "001_a.sql", "aaa"), file(2, "002_b.sql", "bbb"), file(3, "003_c.sql", "ccc")];
  const row = (version: number, name: string, checksum: string): AppliedMigration => ({ version, name, checksum });
  const pending: [string, AppliedMigration[], string[]][] = [
    ["a fresh database needs all", [], ["001_a.sql", "002_b.sql", "003_c.sql"]],
    ["one applied", [row(1, "001_a.sql", "aaa")], ["002_b.sql", "003_c.sql"]],
    ["all applied: nothing", [row(2, "002_b.sql", "bbb"), row(1, "001_a.sql", "aaa"), row(3, "003_c.sql", "ccc")], []],
  ];
  for (const [name, applied, expected] of pending) {
    await t.step(name, () => assert.deepEqual(pendingMigrations(files, applied).map((f) => f.file), expected));
  }
  const refusals: [string, AppliedMigration[], string][] = [
    [
      "a changed file",
      [row(1, "001_a.sql", "aaa"), row(2, "002_b.sql", "old")],
      "Cannot migrate: 002_b.sql was changed after it was applied (applied sha-256 old, file sha-256 bbb); restore it and put the change in a new migration",
    ],
    [
      "a renamed file",
      [row(1, "001_first.sql", "aaa")],
      "Cannot migrate: version 1 was applied as 001_first.sql but the file is now 001_a.sql; restore its name",
    ],
    [
      "an applied version the folder does not have",
      [row(1, "001_a.sql", "aaa"), row(4, "004_d.sql", "ddd")],
      "Cannot migrate: the database has applied version 4 (004_d.sql), which the migrations folder does not have; is this an older checkout?",
    ],
  ];
  for (const [name, applied, message] of refusals) {
    await t.step(
      name,
      () => assert.throws(() => pendingMigrations(files, applied), { name: "MigrationError", message }),
    );
  }
});

Deno.test("splitStatements() cuts at the semicolons that end statements, not those in quotes or comments", async (t) => {
  const cases: [string, string, string[]][] = [
    ["two statements", "SELECT 1; SELECT 2;", ["SELECT 1", "SELECT 2"]],
    ["no final semicolon", "SELECT 1;\nSELECT 2\n", ["SELECT 1", "SELECT 2"]],
    ["a string", "SELECT 'a;b', 'it''s;'; SELECT 2", ["SELECT 'a;b', 'it''s;'", "SELECT 2"]],
    ["an escape string", "SELECT E'a\\';b'; SELECT 2", ["SELECT E'a\\';b'", "SELECT 2"]],
    ["a quoted identifier", 'SELECT 1 AS "x;y"; SELECT 2', ['SELECT 1 AS "x;y"', "SELECT 2"]],
    ["a line comment", "SELECT 1 -- not; here\n; SELECT 2", ["SELECT 1 -- not; here", "SELECT 2"]],
    ["a nested block comment", "SELECT /* a /* b; */ c; */ 1; SELECT 2", ["SELECT /* a /* b; */ c; */ 1", "SELECT 2"]],
    [
      "dollar quotes, tagged and not",
      "DO $$ BEGIN PERFORM 1; END $$; CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $f$ SELECT 1; $f$; SELECT 2",
      [
        "DO $$ BEGIN PERFORM 1; END $$",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $f$ SELECT 1; $f$",
        "SELECT 2",
      ],
    ],
    ["a positional parameter is not a dollar quote", "SELECT $1; SELECT 2", ["SELECT $1", "SELECT 2"]],
    ["a header comment stays with its statement", "-- migrate: no-transaction\nSELECT 1;\n", [
      "-- migrate: no-transaction\nSELECT 1",
    ]],
    ["comments and blanks alone are no statement", "SELECT 1;\n-- the end;\n\n;", ["SELECT 1"]],
    ["empty", "", []],
  ];
  for (const [name, sql, expected] of cases) {
    await t.step(name, () => assert.deepEqual(splitStatements(sql), expected));
  }
});

Deno.test("the initdb bundle creates schema_migrations, then runs and records each migration in order", () => {
  const plain = { ...file(1, "001_a.sql", "aaa"), sql: "CREATE TABLE a ();\n" };
  const concurrent = {
    ...file(2, "002_b.sql", "bbb"),
    sql: "-- migrate: no-transaction\nCREATE INDEX CONCURRENTLY b ON a ((1));",
    transaction: false,
  };
  const sql = bundleMigrations([plain, concurrent]);
  const at = (needle: string) => {
    const i = sql.indexOf(needle);
    assert.ok(i >= 0, `the bundle has ${needle}`);
    return i;
  };
  const order = [
    at("CREATE TABLE IF NOT EXISTS schema_migrations"),
    at("BEGIN;\nCREATE TABLE a ();\n"),
    at("VALUES (1, '001_a.sql', 'aaa');\nCOMMIT;"),
    at("CREATE INDEX CONCURRENTLY b ON a ((1));\n\nINSERT INTO schema_migrations (version, name, checksum) VALUES (2,"),
  ];
  assert.deepEqual(order, [...order].sort((a, b) => a - b));
  assert.equal(sql.match(/^BEGIN;$/gm)?.length, 1, "the no-transaction migration is not wrapped");
});
