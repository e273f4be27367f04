#!/usr/bin/env -S deno run --allow-net=127.0.0.1:5432 --allow-read=sql --allow-env=DATABASE_ADMIN_URL,LOG_LEVEL --ignore-env
/**
 * Creates the heartbeat database when it is missing and applies `sql/schema.sql` and
 * `sql/roles.sql` (both idempotent): the tables, the consumer's `heartbeat_writer` role and
 * Grafana's `grafana_reader` role. It needs a role that may create databases and roles, so it has
 * its own URL: `--admin-url` or `DATABASE_ADMIN_URL` (the consumer connects as the writer).
 *
 * @module
 */
import { fatal, loadConfig } from "../lib/config/cli.ts";
import { consumerOptions, type OptionTable, parse } from "../lib/config/mod.ts";
import { createLogger } from "../lib/ops/log.ts";
import { ensureDatabase, redactUrl, Repository } from "../lib/storage/mod.ts";

const options = {
  databaseUrl: {
    flag: "admin-url",
    env: "DATABASE_ADMIN_URL",
    help: "PostgreSQL URL of the heartbeat database as a role that may create databases and roles",
    default: "postgres://postgres:heartbeat@127.0.0.1:5432/heartbeat",
    schema: parse.databaseUrl,
  },
  logLevel: consumerOptions.logLevel,
} satisfies OptionTable;

if (import.meta.main) {
  const config = loadConfig(
    "usage: deno task db:migrate [--admin-url URL]\n\nCreates the database and applies sql/schema.sql and sql/roles.sql.",
    options,
  );
  const log = createLogger({ level: config.logLevel });
  try {
    const created = await ensureDatabase(config.databaseUrl);
    const repository = Repository.connect(config.databaseUrl);
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
