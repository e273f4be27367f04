#!/usr/bin/env -S deno run --allow-net=127.0.0.1:5432 --allow-read=sql --allow-env=DATABASE_ADMIN_PASSFILE,DATABASE_ADMIN_PASSWORD,DATABASE_ADMIN_PASSWORD_FILE,DATABASE_ADMIN_SSLCERT,DATABASE_ADMIN_SSLKEY,DATABASE_ADMIN_SSLMODE,DATABASE_ADMIN_SSLROOTCERT,DATABASE_ADMIN_URL,LOG_LEVEL --ignore-env
/**
 * Creates the heartbeat database when it is missing, applies the migrations of `sql/migrations/`
 * it has not applied yet (in version order, each in its own transaction, recorded in
 * `schema_migrations`), then `sql/roles.sql` (idempotent): the consumer's `heartbeat_writer` role
 * and Grafana's `grafana_reader` role with their grants. A database made by the schema.sql of
 * before the migrations is adopted as version 1. It needs a role that may create databases and
 * roles, so it has its own URL: `--admin-url` or `DATABASE_ADMIN_URL` (the consumer connects as
 * the writer). The runner is lib/storage/migrations.ts; docs/operations.md has its refusals.
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
import { ensureDatabase, migrateDatabase, redactUrl, SQL_MIGRATIONS, SQL_ROLES } from "../lib/storage/mod.ts";

if (import.meta.main) {
  const config = loadConfig(USAGE.migrate, migrateOptions);
  const log = createLogger({ level: config.logLevel });
  const database = orExit(() => resolveDatabaseSecurity(config, MIGRATE_DATABASE));
  const connection = { ssl: database.ssl };
  const where = { database: redactUrl(config.databaseUrl) };
  try {
    if (await ensureDatabase(database.url, connection)) log.info("created the database", where);
    await migrateDatabase(database.url, connection, {
      migrations: SQL_MIGRATIONS,
      roles: SQL_ROLES,
      log: log.child(where),
    });
  } catch (error) {
    fatal(`migration failed for ${redactUrl(config.databaseUrl)}: ${error instanceof Error ? error.message : error}`);
  }
}
