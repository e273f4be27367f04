/**
 * Configuration: every setting defined once with its flag, environment variable, default and zod
 * schema (`tables.ts`), parsed once at start by {@link loadConfig}, which prints `--help` or stops
 * the program with one line naming the bad setting (`options.ts` holds the machinery, `cli.ts` the
 * entry scripts' side).
 *
 * Requires `--allow-env` for the environment variables of the table in use ({@link envNames}).
 *
 * @module
 */
export {
  ConfigError,
  type ConfigOf,
  envNames,
  helpText,
  markdownTable,
  optional,
  type OptionSpec,
  type OptionTable,
  parse,
  parseConfig,
} from "./options.ts";
export {
  type ConsumerConfig,
  consumerOptions,
  detectorSettings,
  type MaintainConfig,
  maintainOptions,
  type MigrateConfig,
  migrateOptions,
  type ProducerConfig,
  producerOptions,
  simulation,
  USAGE,
} from "./tables.ts";
export { databaseHost, derivePermissions, permissionFlags, type Permissions, urlFiles } from "./permissions.ts";
export {
  CONSUMER_DATABASE,
  type DatabaseConnection,
  type KafkaSecurity,
  MIGRATE_DATABASE,
  resolveDatabaseSecurity,
  resolveKafkaSecurity,
} from "./resolve_security.ts";
export { fatal, loadConfig, orExit } from "./cli.ts";
