#!/usr/bin/env -S deno run --allow-read=sql --allow-write=sql/initdb.sql
/**
 * `deno task db:bundle`: writes `sql/initdb.sql`, the migrations of `sql/migrations/` as one psql
 * script (lib/storage/migration_bundle.ts), which docker-compose's PostgreSQL runs on its first
 * start. Run it after adding a migration; tests/project_test.ts fails while it is stale.
 * `--check` writes nothing and exits 1 when the file is not current.
 *
 * @module
 */
import { bundleMigrations, readMigrations, SQL_MIGRATIONS } from "../lib/storage/mod.ts";

/** Where the bundle goes. */
export const BUNDLE = new URL("../sql/initdb.sql", import.meta.url);

/** The bundle of the migrations as they are now. */
export async function currentBundle(): Promise<string> {
  return bundleMigrations(await readMigrations(SQL_MIGRATIONS));
}

if (import.meta.main) {
  const bundle = await currentBundle();
  if (Deno.args.includes("--check")) {
    const written = await Deno.readTextFile(BUNDLE).catch(() => "");
    if (written !== bundle) {
      console.error("sql/initdb.sql is not what sql/migrations/ makes: run deno task db:bundle");
      Deno.exit(1);
    }
  } else {
    await Deno.writeTextFile(BUNDLE, bundle);
    console.error("wrote sql/initdb.sql");
  }
}
