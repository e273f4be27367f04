#!/usr/bin/env -S deno run --allow-net=127.0.0.1:5432 --allow-read=sql --allow-env=DATABASE_ADMIN_PASSFILE,DATABASE_ADMIN_PASSWORD,DATABASE_ADMIN_PASSWORD_FILE,DATABASE_ADMIN_SSLCERT,DATABASE_ADMIN_SSLKEY,DATABASE_ADMIN_SSLMODE,DATABASE_ADMIN_SSLROOTCERT,DATABASE_ADMIN_URL,LOG_LEVEL --ignore-env
/**
 * Creates the heartbeat database when it is missing and applies `sql/schema.sql` and
 * `sql/roles.sql` (both idempotent): the tables, the consumer's `heartbeat_writer` role and
 * Grafana's `grafana_reader` role. It needs a role that may create databases and roles, so it has
 * its own URL: `--admin-url` or `DATABASE_ADMIN_URL` (the consumer connects as the writer).
 *
 * @module
 */
import {
  fatal,
  loadConfig,
  MIGRATE_DATABASE,
  migrateOptions,
  orExit,
  resolveDatabaseSecurity,
  USAGE,
} from "../lib/config/mod.ts";
import { createLogger } from "../lib/ops/log.ts";
import { ensureDatabase, redactUrl, Repository } from "../lib/storage/mod.ts";

if (import.meta.main) {
  const config = loadConfig(USAGE.migrate, migrateOptions);
  const log = createLogger({ level: config.logLevel });
  const database = orExit(() => resolveDatabaseSecurity(config, MIGRATE_DATABASE));
  const connection = { ssl: database.ssl };
  try {
    const created = await ensureDatabase(database.url, connection);
    const repository = Repository.connect(database.url, connection);
    try {
      for (const file of ["schema.sql", "roles.sql"]) {
        await repository.applySchema(await Deno.readTextFile(new URL(`../sql/${file}`, import.meta.url)));
      }
    } finally {
      await repository.close();
    }
    log.info(created ? "created the database and applied the schema and roles" : "applied the schema and roles", {
      database: redactUrl(config.databaseUrl),
    });
  } catch (error) {
    fatal(`migration failed for ${redactUrl(config.databaseUrl)}: ${error instanceof Error ? error.message : error}`);
  }
}
