/**
 * Storage: everything that speaks to PostgreSQL. The {@link Repository} holds every SQL
 * statement of the pipeline (batch writes of readings, dead letters and alerts in one
 * transaction; the history the episode tracker rebuilds from; schema SQL); `pg_binary.ts` sends
 * readings as binary arrays; `errors.ts` classifies failures so that no caller reads a SQLSTATE:
 * a {@link DataError} is about the data (split the batch), a {@link TransientError} about the
 * connection or the server (retry). `migrations.ts` brings a database's schema to the newest of
 * `sql/migrations/` (`migration_files.ts`: the pure rules of names, order and checksums;
 * `migration_bundle.ts`: the same as one psql script for docker-compose's initdb). The
 * repository also runs the partition maintenance step (time partitions made ahead, rows of the
 * default partitions moved, retention by dropping whole partitions).
 *
 * Requires `--allow-net=<database host:port>`.
 *
 * @module
 */
export {
  type MaintainOptions,
  type PartitionAction,
  type PartitionSettings,
  Repository,
  type RepositoryOptions,
  TIME_WINDOW_CAP,
} from "./repository.ts";
export type { DeadLetter, StoredReading, WriteResult } from "./rows.ts";
export { classifyError, DataError, TransientError, UnencodableRowError } from "./errors.ts";
export { ensureDatabase, quoteIdent, redactUrl, waitForSchema } from "./schema.ts";
export { BinaryArray, OID } from "./pg_binary.ts";
export {
  BASELINE_TABLES,
  migrateDatabase,
  type MigrateOptions,
  type MigrationResult,
  readMigrations,
  SQL_MIGRATIONS,
  SQL_ROLES,
} from "./migrations.ts";
export {
  type AppliedMigration,
  MigrationError,
  type MigrationFile,
  orderMigrations,
  parseMigrationName,
  pendingMigrations,
  SCHEMA_MIGRATIONS_DDL,
} from "./migration_files.ts";
export { bundleMigrations } from "./migration_bundle.ts";
export { type Maintainer, type MaintenanceSchedule, startPartitionMaintenance } from "./partition_maintenance.ts";
