#!/usr/bin/env -S deno run --allow-net=127.0.0.1:5432 --allow-env=DATABASE_ADMIN_PASSFILE,DATABASE_ADMIN_PASSWORD,DATABASE_ADMIN_PASSWORD_FILE,DATABASE_ADMIN_SSLCERT,DATABASE_ADMIN_SSLKEY,DATABASE_ADMIN_SSLMODE,DATABASE_ADMIN_SSLROOTCERT,DATABASE_ADMIN_URL,HEARTBEAT_MAINTAIN_DRY_RUN,HEARTBEAT_PREMAKE,HEARTBEAT_RETENTION,LOG_LEVEL --ignore-env
/**
 * `deno task db:maintain`: the partition maintenance step (sql/migrations/002,
 * `heartbeat_maintain()`), also run by the consumer at start and every `--maintain-every`. It
 * makes the partitions of yesterday, today and the days ahead, moves rows out of the default
 * partitions (or deletes them when their day is older than the retention window: a replay of
 * dropped data), and detaches and drops whole partitions older than each table's window, never
 * with a bulk DELETE. `--retention` and `--premake` change the settings first (they are kept in
 * the database's `heartbeat_partitions`); `--dry-run` prints what it would do. Run it from cron or
 * a timer when no consumer runs. Connects as db:migrate does (`--admin-url`, DATABASE_ADMIN_*).
 *
 * @module
 */
import {
  fatal,
  loadConfig,
  maintainOptions,
  MIGRATE_DATABASE,
  orExit,
  resolveDatabaseSecurity,
  USAGE,
} from "../lib/config/mod.ts";
import { createLogger } from "../lib/ops/log.ts";
import { redactUrl, Repository } from "../lib/storage/mod.ts";

if (import.meta.main) {
  const config = loadConfig(USAGE.maintain, maintainOptions);
  const log = createLogger({ level: config.logLevel });
  const database = orExit(() => resolveDatabaseSecurity(config, MIGRATE_DATABASE));
  const repository = Repository.connect(database.url, { ssl: database.ssl, applicationName: "heartbeat-maintain" });
  try {
    for (const [table, retentionMs] of Object.entries(config.retention)) {
      await repository.setPartitionSettings(table, { retentionMs });
    }
    if (config.premake !== undefined) {
      for (const s of await repository.partitionSettings()) {
        await repository.setPartitionSettings(s.table, { premake: config.premake });
      }
    }
    const began = performance.now();
    const actions = await repository.maintainPartitions({ dryRun: config.dryRun });
    const verb = config.dryRun ? "would" : "did";
    for (const a of actions) {
      console.log(`${config.dryRun ? "would " : ""}${a.action.padEnd(14)} ${a.partition.padEnd(24)} ${a.detail}`);
    }
    const settings = await repository.partitionSettings();
    log.info(
      actions.length === 0
        ? "partitions are in order: nothing to do"
        : `maintenance ${verb} ${actions.length} thing(s)`,
      {
        database: redactUrl(config.databaseUrl),
        ms: Math.round(performance.now() - began),
        retention: Object.fromEntries(
          settings.map((s) => [s.table, s.retentionMs === null ? "keep" : `${s.retentionMs / 86_400_000}d`]),
        ),
        skipped: actions.filter((a) => a.action === "skipped").length,
      },
    );
  } catch (error) {
    fatal(`maintenance failed for ${redactUrl(config.databaseUrl)}: ${error instanceof Error ? error.message : error}`);
  } finally {
    await repository.close();
  }
}
