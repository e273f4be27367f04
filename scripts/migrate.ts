#!/usr/bin/env -S deno run --allow-net=127.0.0.1:5432 --allow-read=sql --allow-env=DATABASE_URL,LOG_LEVEL --ignore-env
/**
 * Creates the heartbeat database when it is missing and applies `sql/schema.sql` (idempotent).
 * `deno task db:migrate`; the URL comes from `--database-url` or `DATABASE_URL`.
 *
 * @module
 */
import { fatal, loadConfig } from "../lib/cli.ts";
import { consumerOptions } from "../lib/config.ts";
import { createLogger } from "../lib/log.ts";
import { ensureDatabase, redactUrl, Repository } from "../lib/repository.ts";

const options = { databaseUrl: consumerOptions.databaseUrl, logLevel: consumerOptions.logLevel };

if (import.meta.main) {
  const config = loadConfig(
    "usage: deno task db:migrate [--database-url URL]\n\nCreates the database and applies sql/schema.sql.",
    options,
  );
  const log = createLogger({ level: config.logLevel });
  try {
    const created = await ensureDatabase(config.databaseUrl);
    const repository = Repository.connect(config.databaseUrl);
    try {
      await repository.applySchema(await Deno.readTextFile(new URL("../sql/schema.sql", import.meta.url)));
    } finally {
      await repository.close();
    }
    log.info(created ? "created the database and applied the schema" : "applied the schema", {
      database: redactUrl(config.databaseUrl),
    });
  } catch (error) {
    fatal(`migration failed for ${redactUrl(config.databaseUrl)}: ${error instanceof Error ? error.message : error}`);
  }
}
