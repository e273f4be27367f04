/**
 * The programs and what each may touch, in one table: the option table it reads, its entry script,
 * its V8 flags, and the permissions its configuration calls for (lib/config/permissions.ts). The
 * launcher (`deno task producer|consumer|db:migrate`), the compile script, the shebangs and the
 * tests all derive their flags from here.
 *
 * @module
 */
import {
  type ConfigOf,
  consumerOptions,
  derivePermissions,
  envNames,
  maintainOptions,
  migrateOptions,
  type OptionTable,
  parseConfig,
  permissionFlags,
  type Permissions,
  producerOptions,
  urlFiles,
  USAGE,
} from "../lib/config/mod.ts";
import { databaseHost } from "../lib/config/permissions.ts";

/** One program. */
export interface Program<T extends OptionTable = OptionTable> {
  /** Its option table. */
  table: T;
  /** Its entry script, relative to the project root. */
  script: string;
  /** What `--help` says first. */
  usage: string;
  /** V8 flags it runs with (`--v8-flags=…`), or none. */
  v8: string[];
  /** Folders it always reads (db:migrate reads sql/). */
  read: string[];
  /** The permissions a parsed configuration calls for. */
  permissions(config: ConfigOf<T>): Permissions;
}

const listen = (host: string, port: number) => port === 0 ? [] : [`${host.includes(":") ? `[${host}]` : host}:${port}`];

type Kafka = Pick<
  ConfigOf<typeof producerOptions>,
  | "kafkaCaFile"
  | "kafkaCertFile"
  | "kafkaKeyFile"
  | "kafkaKeyPasswordFile"
  | "kafkaSaslPasswordFile"
  | "kafkaOauthTokenFile"
>;
const kafkaFiles = (c: Kafka) => [
  c.kafkaCaFile,
  c.kafkaCertFile,
  c.kafkaKeyFile,
  c.kafkaKeyPasswordFile,
  c.kafkaSaslPasswordFile,
  c.kafkaOauthTokenFile,
];
type Database = Pick<
  ConfigOf<typeof consumerOptions>,
  | "databaseUrl"
  | "databaseSslrootcert"
  | "databaseSslcert"
  | "databaseSslkey"
  | "databasePasswordFile"
  | "databasePassfile"
>;
const databaseFiles = (c: Database) => [
  ...urlFiles(c.databaseUrl),
  c.databaseSslrootcert,
  c.databaseSslcert,
  c.databaseSslkey,
  c.databasePasswordFile,
  c.databasePassfile,
];

/** The consumer: Kafka, PostgreSQL and its metrics address. */
export const consumer: Program<typeof consumerOptions> = {
  table: consumerOptions,
  script: "consumer.ts",
  usage: USAGE.consumer,
  v8: ["--v8-flags=--max-semi-space-size=8,--heap-growing-percent=30"],
  read: [],
  permissions: (c) =>
    derivePermissions({
      net: [...c.brokers, databaseHost(c.databaseUrl), ...listen(c.metricsHost, c.metricsPort)],
      files: [...kafkaFiles(c), ...databaseFiles(c)],
      env: envNames(consumerOptions),
    }),
};

/** The producer: Kafka and its metrics address. */
export const producer: Program<typeof producerOptions> = {
  table: producerOptions,
  script: "producer.ts",
  usage: USAGE.producer,
  v8: [],
  read: [],
  permissions: (c) =>
    derivePermissions({
      net: [...c.brokers, ...listen(c.metricsHost, c.metricsPort)],
      files: kafkaFiles(c),
      env: envNames(producerOptions),
    }),
};

/** db:migrate: PostgreSQL as an administrator, and sql/. */
export const migrate: Program<typeof migrateOptions> = {
  table: migrateOptions,
  script: "scripts/migrate.ts",
  usage: USAGE.migrate,
  v8: [],
  read: ["sql"],
  permissions: (c) =>
    derivePermissions({ net: [databaseHost(c.databaseUrl)], files: databaseFiles(c), env: envNames(migrateOptions) }),
};

/** db:maintain: PostgreSQL as an administrator (the partition settings are the tables' owner's to change). */
export const maintain: Program<typeof maintainOptions> = {
  table: maintainOptions,
  script: "scripts/maintain.ts",
  usage: USAGE.maintain,
  v8: [],
  read: [],
  permissions: (c) =>
    derivePermissions({ net: [databaseHost(c.databaseUrl)], files: databaseFiles(c), env: envNames(maintainOptions) }),
};

/** Every program by its task name. */
export const PROGRAMS = { producer, consumer, "db:migrate": migrate, "db:maintain": maintain } as const;

/** A program's task name. */
export type ProgramName = keyof typeof PROGRAMS;

/**
 * The Deno flags a program runs with for a configuration (args and env as the program would read
 * them): V8 flags, then the permissions. A configuration the program would refuse (or `--help`)
 * gets the flags of the defaults: the program then says what is wrong itself.
 */
export function runFlags(name: ProgramName, args: string[], env: (name: string) => string | undefined): string[] {
  const program = PROGRAMS[name] as Program;
  let config: ConfigOf<OptionTable>;
  try {
    const parsed = parseConfig(program.table, { args, env });
    if (parsed.help) throw new Error("help");
    config = parsed.config;
  } catch {
    const defaults = parseConfig(program.table, { args: [], env: () => undefined });
    if (defaults.help) throw new Error("unreachable");
    config = defaults.config;
  }
  return [...program.v8, ...permissionFlags(program.permissions(config), program.read)];
}

/** The `deno run …` arguments of a program (flags, then its script) for a configuration. */
export function runArgs(name: ProgramName, args: string[], env: (name: string) => string | undefined): string[] {
  return ["run", ...runFlags(name, args, env), PROGRAMS[name].script];
}
