/**
 * The pure half of the migrations: what a migration file's name means (`NNN_name.sql`), whether
 * it runs in a transaction (a `-- migrate: no-transaction` header says it cannot), its checksum
 * (SHA-256 of its bytes), the order of a folder's files (a version gap or a duplicate is refused),
 * which files a database still needs given what it has applied (a changed or unknown applied
 * migration is refused), and how to split a no-transaction file into its statements.
 *
 * Needs no permissions: {@link migrationFile} is given the bytes, `migrations.ts` reads them.
 *
 * @module
 */

/** A migration file's name: a version of three or more digits, `_`, a lower-case name, `.sql`. */
export const MIGRATION_NAME: RegExp = /^(\d{3,})_([a-z0-9][a-z0-9_]*)\.sql$/;

/** The header comment that makes a migration run outside a transaction. */
export const NO_TRANSACTION = "migrate: no-transaction";

/** The table that records the applied migrations (the runner and the initdb bundle create it). */
export const SCHEMA_MIGRATIONS_DDL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,            -- the file, e.g. 001_baseline.sql
  checksum   text        NOT NULL,            -- SHA-256 of the file's bytes, hex
  applied_at timestamptz NOT NULL DEFAULT now(),
  adopted    boolean     NOT NULL DEFAULT false -- recorded without running (baseline adoption)
)`;

/** One migration, read from its file. */
export interface MigrationFile {
  /** Its version, from the name's digits (`003_x.sql` is 3). */
  version: number;
  /** Its file name, e.g. `003_x.sql`. */
  file: string;
  /** Its text. */
  sql: string;
  /** SHA-256 of its bytes, lower-case hex. */
  checksum: string;
  /** False when its header says `-- migrate: no-transaction`. */
  transaction: boolean;
}

/** A migration the database has applied: a row of `schema_migrations`. */
export interface AppliedMigration {
  /** Its version. */
  version: number;
  /** The file name it was applied from. */
  name: string;
  /** SHA-256 of the file it was applied from. */
  checksum: string;
}

/** A refusal of the migrations or one of them: nothing was applied because of it (`file`: which one). */
export class MigrationError extends Error {
  /** The migration file at fault, when there is one. */
  readonly file: string | undefined;

  /** @param message one line, saying what to do; @param file the file at fault */
  constructor(message: string, file?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MigrationError";
    this.file = file;
  }
}

/**
 * The version and name of a migration file name, or null when it is not `NNN_name.sql`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMigrationName } from "./migration_files.ts";
 * assert.deepEqual(parseMigrationName("002_partition_readings.sql"), { version: 2, name: "partition_readings" });
 * assert.equal(parseMigrationName("2_x.sql"), null);
 * ```
 */
export function parseMigrationName(file: string): { version: number; name: string } | null {
  const match = MIGRATION_NAME.exec(file);
  if (match === null) return null;
  return { version: Number(match[1]), name: match[2]! };
}

/** SHA-256 of bytes, as lower-case hex. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Whether a migration runs in a transaction: yes unless a comment line of its header (the comment
 * lines before its first statement) says `-- migrate: no-transaction`.
 */
export function runsInTransaction(sql: string): boolean {
  for (const line of sql.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "") continue;
    if (!trimmed.startsWith("--")) return true;
    if (trimmed.replace(/^--\s*/, "").toLowerCase() === NO_TRANSACTION) return false;
  }
  return true;
}

/**
 * A migration from its file name and bytes.
 *
 * @throws {MigrationError} when the name is not `NNN_name.sql` or the bytes are not UTF-8
 */
export async function migrationFile(file: string, bytes: Uint8Array): Promise<MigrationFile> {
  const parsed = parseMigrationName(file);
  if (parsed === null) {
    throw new MigrationError(
      `Cannot read migration ${file}: a migration's name is NNN_name.sql (three or more digits, a lower-case name)`,
      file,
    );
  }
  let sql: string;
  try {
    sql = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new MigrationError(`Cannot read migration ${file}: it is not UTF-8`, file, { cause: error });
  }
  return { version: parsed.version, file, sql, checksum: await sha256Hex(bytes), transaction: runsInTransaction(sql) };
}

/**
 * The migrations in version order, checked: versions run 1, 2, 3, … with no gap and no version in
 * two files.
 *
 * @throws {MigrationError} on a duplicate version, a gap, or a first version other than 1
 */
export function orderMigrations<T extends { version: number; file: string }>(files: readonly T[]): T[] {
  const sorted = [...files].sort((a, b) => a.version - b.version || a.file.localeCompare(b.file));
  for (let i = 0; i < sorted.length; i++) {
    const file = sorted[i]!;
    const previous = sorted[i - 1];
    if (previous !== undefined && previous.version === file.version) {
      throw new MigrationError(
        `Cannot order the migrations: version ${file.version} is in two files, ${previous.file} and ${file.file}; renumber one`,
        file.file,
      );
    }
    if (file.version !== i + 1) {
      throw new MigrationError(
        `Cannot order the migrations: version ${i + 1} is missing (${
          previous === undefined ? "the first file" : `after ${previous.file}`
        } comes ${file.file}); versions run 1, 2, 3, … without a gap`,
        file.file,
      );
    }
  }
  return sorted;
}

/**
 * The migrations a database still needs, in order, after checking what it applied against the
 * files: every applied migration must still be there, under the same name, with the same checksum.
 *
 * @param files the folder's migrations, ordered by {@link orderMigrations}
 * @param applied the rows of `schema_migrations`
 * @throws {MigrationError} when an applied migration was changed, renamed or is missing
 */
export function pendingMigrations(
  files: readonly MigrationFile[],
  applied: readonly AppliedMigration[],
): MigrationFile[] {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  for (const row of [...applied].sort((a, b) => a.version - b.version)) {
    const file = byVersion.get(row.version);
    if (file === undefined) {
      throw new MigrationError(
        `Cannot migrate: the database has applied version ${row.version} (${row.name}), which the migrations folder does not have; is this an older checkout?`,
        row.name,
      );
    }
    if (file.file !== row.name) {
      throw new MigrationError(
        `Cannot migrate: version ${row.version} was applied as ${row.name} but the file is now ${file.file}; restore its name`,
        file.file,
      );
    }
    if (file.checksum !== row.checksum) {
      throw new MigrationError(
        `Cannot migrate: ${file.file} was changed after it was applied (applied sha-256 ${row.checksum}, file sha-256 ${file.checksum}); restore it and put the change in a new migration`,
        file.file,
      );
    }
  }
  const done = new Set(applied.map((row) => row.version));
  return files.filter((f) => !done.has(f.version));
}

/**
 * Splits SQL into its statements at the semicolons that end them: not inside quotes (`'…'`,
 * `E'…'`, `"…"`), dollar quotes (`$$…$$`, `$tag$…$tag$`) or comments (`-- …`, nested `/* … *\/`).
 * Statements that are only comments or blanks are left out. Used for no-transaction migrations,
 * which must be sent one statement at a time (PostgreSQL runs a multi-statement query as one
 * transaction).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitStatements } from "./migration_files.ts";
 * assert.deepEqual(splitStatements("SELECT ';'; -- a;\nSELECT $$;$$;"), ["SELECT ';'", "-- a;\nSELECT $$;$$"]);
 * ```
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const text = sql.slice(start, end).trim();
    if (stripComments(text).trim() !== "") statements.push(text);
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === "-" && next === "-") {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? sql.length : end + 1;
    } else if (c === "/" && next === "*") {
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql[i] === "/" && sql[i + 1] === "*") (depth++, i += 2);
        else if (sql[i] === "*" && sql[i + 1] === "/") (depth--, i += 2);
        else i++;
      }
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && /[eE]/.test(sql[i - 1] ?? "") && !/\w/.test(sql[i - 2] ?? "");
      i++;
      while (i < sql.length) {
        if (escapes && sql[i] === "\\") i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) break;
        else i++;
      }
      i++;
    } else if (c === "$" && !/[\w$]/.test(sql[i - 1] ?? "")) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i))?.[0];
      if (tag === undefined) {
        i++;
      } else {
        const end = sql.indexOf(tag, i + tag.length);
        i = end < 0 ? sql.length : end + tag.length;
      }
    } else if (c === ";") {
      push(i);
      i++;
      start = i;
    } else {
      i++;
    }
  }
  push(sql.length);
  return statements;
}

/** SQL without its `--` comments (enough to tell whether a piece holds a statement). */
function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*/g, "").replace(/\/\*[\s\S]*?\*\//g, "");
}
