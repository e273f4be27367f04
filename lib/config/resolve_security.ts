/**
 * Turns the security settings into what the clients take, once, at start: files read (each
 * error names its setting and path, in one line), secrets taken from the environment or their
 * file, and the combinations checked (a client key needs its certificate, SASL needs its
 * mechanism, user and password, plaintext SASL needs its opt-in). Nothing here is logged: the
 * results hold secrets.
 *
 * Requires `--allow-read` of exactly the configured files.
 *
 * @module
 */
import { ConfigError } from "./options.ts";
import type { KAFKA_PROTOCOLS, SASL_MECHANISMS, SSL_MODES } from "./security.ts";

/** What the Kafka clients get: TLS options (or none) and SASL options (or none). */
export interface KafkaSecurity {
  /** TLS options for every broker connection, or false for plaintext. */
  ssl: false | {
    /** CA certificates (PEM); the system's when absent. */
    ca?: string[];
    /** Client certificate (PEM), for mutual TLS. */
    cert?: string;
    /** Client key (PEM). */
    key?: string;
    /** Passphrase of an encrypted client key. */
    passphrase?: string;
    /** Name the brokers' certificates must carry, when not each broker's host. */
    servername?: string;
    /** Always true: certificates are verified. */
    rejectUnauthorized: true;
  };
  /** SASL credentials (or, for OAUTHBEARER, the token file re-read at each authentication), or undefined. */
  sasl?:
    | { mechanism: "plain" | "scram-sha-256" | "scram-sha-512"; username: string; password: string }
    | { mechanism: "oauthbearer"; tokenFile: string };
  /** Whether SASL runs over plaintext (opted into; the program warns). */
  plaintextSasl: boolean;
}

/** The Kafka security settings as parsed (the keys of `kafkaSecurityOptions`). */
export interface KafkaSecuritySettings {
  kafkaSecurity: typeof KAFKA_PROTOCOLS[number];
  kafkaCaFile: string | undefined;
  kafkaServername: string | undefined;
  kafkaCertFile: string | undefined;
  kafkaKeyFile: string | undefined;
  kafkaKeyPassword: string | undefined;
  kafkaKeyPasswordFile: string | undefined;
  kafkaSaslMechanism: typeof SASL_MECHANISMS[number] | undefined;
  kafkaSaslUsername: string | undefined;
  kafkaSaslPassword: string | undefined;
  kafkaSaslPasswordFile: string | undefined;
  kafkaOauthTokenFile: string | undefined;
  kafkaAllowPlaintextSasl: boolean;
}

/** Reads a file a setting names; the error names the setting and the path, in one line. */
export type FileReader = (path: string) => string;

const readFile: FileReader = (path) => Deno.readTextFileSync(path);

function read(setting: string, path: string, reader: FileReader, expect?: RegExp, what?: string): string {
  let text: string;
  try {
    text = reader(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
      ? "not readable (permission denied)"
      : error instanceof Error
      ? error.message.split("\n")[0]
      : String(error);
    throw new ConfigError(`Cannot read ${setting} ${path}: ${why}`, { cause: error });
  }
  if (expect !== undefined && !expect.test(text)) throw new ConfigError(`${setting} ${path} holds no ${what}`);
  return text;
}

const CERTIFICATE = /-----BEGIN CERTIFICATE-----/;
const PRIVATE_KEY = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;

/** A secret from its env variable or its file (not both); trailing newlines of a file are dropped. */
function secret(
  value: string | undefined,
  file: string | undefined,
  names: { env: string; fileSetting: string },
  reader: FileReader,
): string | undefined {
  if (value !== undefined && file !== undefined) {
    throw new ConfigError(`Set ${names.env} or ${names.fileSetting}, not both`);
  }
  if (file !== undefined) return read(names.fileSetting, file, reader).replace(/\r?\n$/, "");
  return value;
}

/**
 * Resolves the Kafka security settings.
 *
 * @throws {ConfigError} naming the setting at fault
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveKafkaSecurity } from "./resolve_security.ts";
 * const none = {
 *   kafkaCaFile: undefined, kafkaServername: undefined, kafkaCertFile: undefined, kafkaKeyFile: undefined,
 *   kafkaKeyPassword: undefined, kafkaKeyPasswordFile: undefined, kafkaSaslMechanism: undefined,
 *   kafkaSaslUsername: undefined, kafkaSaslPassword: undefined, kafkaSaslPasswordFile: undefined,
 *   kafkaOauthTokenFile: undefined, kafkaAllowPlaintextSasl: false,
 * };
 * assert.deepEqual(resolveKafkaSecurity({ ...none, kafkaSecurity: "plaintext" }), { ssl: false, plaintextSasl: false });
 * assert.throws(() => resolveKafkaSecurity({ ...none, kafkaSecurity: "sasl_ssl" }), /--kafka-sasl-mechanism/);
 * ```
 */
export function resolveKafkaSecurity(s: KafkaSecuritySettings, reader: FileReader = readFile): KafkaSecurity {
  const tls = s.kafkaSecurity === "ssl" || s.kafkaSecurity === "sasl_ssl";
  const sasl = s.kafkaSecurity === "sasl_ssl" || s.kafkaSecurity === "sasl_plaintext";
  const needs = (setting: string, protocols: string) =>
    new ConfigError(`${setting} needs --kafka-security ${protocols} (KAFKA_SECURITY_PROTOCOL is ${s.kafkaSecurity})`);
  if (!tls) {
    const given = [
      ["--kafka-ca-file (KAFKA_SSL_CA_FILE)", s.kafkaCaFile],
      ["--kafka-cert-file (KAFKA_SSL_CERT_FILE)", s.kafkaCertFile],
      ["--kafka-key-file (KAFKA_SSL_KEY_FILE)", s.kafkaKeyFile],
      ["--kafka-servername (KAFKA_SSL_SERVERNAME)", s.kafkaServername],
    ].find(([, v]) => v !== undefined);
    if (given !== undefined) throw needs(given[0]!, "ssl or sasl_ssl");
  }
  if (!sasl && s.kafkaSaslMechanism !== undefined) {
    throw needs("--kafka-sasl-mechanism (KAFKA_SASL_MECHANISM)", "sasl_ssl or sasl_plaintext");
  }
  if (s.kafkaOauthTokenFile !== undefined && s.kafkaSaslMechanism !== "oauthbearer") {
    throw new ConfigError("--kafka-oauth-token-file (KAFKA_OAUTH_TOKEN_FILE) needs --kafka-sasl-mechanism oauthbearer");
  }
  if (s.kafkaSecurity === "sasl_plaintext" && !s.kafkaAllowPlaintextSasl) {
    throw new ConfigError(
      "--kafka-security sasl_plaintext sends the password unencrypted: use sasl_ssl, or opt in with --kafka-allow-plaintext-sasl (KAFKA_ALLOW_PLAINTEXT_SASL=true)",
    );
  }
  const out: KafkaSecurity = { ssl: false, plaintextSasl: s.kafkaSecurity === "sasl_plaintext" };
  if (tls) {
    if ((s.kafkaCertFile === undefined) !== (s.kafkaKeyFile === undefined)) {
      throw new ConfigError(
        "mutual TLS needs both --kafka-cert-file (KAFKA_SSL_CERT_FILE) and --kafka-key-file (KAFKA_SSL_KEY_FILE)",
      );
    }
    const passphrase = secret(s.kafkaKeyPassword, s.kafkaKeyPasswordFile, {
      env: "KAFKA_SSL_KEY_PASSWORD",
      fileSetting: "--kafka-key-password-file (KAFKA_SSL_KEY_PASSWORD_FILE)",
    }, reader);
    out.ssl = {
      rejectUnauthorized: true,
      ...(s.kafkaCaFile === undefined ? {} : {
        ca: [read("--kafka-ca-file (KAFKA_SSL_CA_FILE)", s.kafkaCaFile, reader, CERTIFICATE, "PEM certificate")],
      }),
      ...(s.kafkaCertFile === undefined ? {} : {
        cert: read("--kafka-cert-file (KAFKA_SSL_CERT_FILE)", s.kafkaCertFile, reader, CERTIFICATE, "PEM certificate"),
        key: read("--kafka-key-file (KAFKA_SSL_KEY_FILE)", s.kafkaKeyFile!, reader, PRIVATE_KEY, "PEM private key"),
      }),
      ...(passphrase === undefined ? {} : { passphrase }),
      ...(s.kafkaServername === undefined ? {} : { servername: s.kafkaServername }),
    };
  }
  if (sasl) {
    if (s.kafkaSaslMechanism === undefined) {
      throw new ConfigError(`--kafka-security ${s.kafkaSecurity} needs --kafka-sasl-mechanism (KAFKA_SASL_MECHANISM)`);
    }
    if (s.kafkaSaslMechanism === "oauthbearer") {
      if (s.kafkaOauthTokenFile === undefined) {
        throw new ConfigError(
          "--kafka-sasl-mechanism oauthbearer needs --kafka-oauth-token-file (KAFKA_OAUTH_TOKEN_FILE)",
        );
      }
      const setting = "--kafka-oauth-token-file (KAFKA_OAUTH_TOKEN_FILE)";
      if (read(setting, s.kafkaOauthTokenFile, reader).trim() === "") {
        throw new ConfigError(`${setting} ${s.kafkaOauthTokenFile} is empty`);
      }
      out.sasl = { mechanism: "oauthbearer", tokenFile: s.kafkaOauthTokenFile };
      return out;
    }
    if (s.kafkaSaslUsername === undefined) {
      throw new ConfigError(`--kafka-security ${s.kafkaSecurity} needs --kafka-sasl-username (KAFKA_SASL_USERNAME)`);
    }
    const password = secret(s.kafkaSaslPassword, s.kafkaSaslPasswordFile, {
      env: "KAFKA_SASL_PASSWORD",
      fileSetting: "--kafka-sasl-password-file (KAFKA_SASL_PASSWORD_FILE)",
    }, reader);
    if (password === undefined) {
      throw new ConfigError(
        `--kafka-security ${s.kafkaSecurity} needs KAFKA_SASL_PASSWORD or --kafka-sasl-password-file (KAFKA_SASL_PASSWORD_FILE)`,
      );
    }
    out.sasl = { mechanism: s.kafkaSaslMechanism, username: s.kafkaSaslUsername, password };
  }
  return out;
}

/** A PostgreSQL URL and its security settings as parsed (`databaseUrl` and `databaseSecurityOptions` under `database`). */
export interface DatabaseSecuritySettings {
  databaseUrl: string;
  databaseSslmode: typeof SSL_MODES[number] | undefined;
  databaseSslrootcert: string | undefined;
  databaseSslcert: string | undefined;
  databaseSslkey: string | undefined;
  databasePassword: string | undefined;
  databasePasswordFile: string | undefined;
  databasePassfile: string | undefined;
}

/** The consumer's names of the database settings (`DATABASE_*`, `--database-*`). */
export const CONSUMER_DATABASE = { env: "DATABASE", flag: "database" } as const;
/** db:migrate's names of the database settings (`DATABASE_ADMIN_*`, `--admin-*`). */
export const MIGRATE_DATABASE = { env: "DATABASE_ADMIN", flag: "admin" } as const;

/** What node-postgres gets: the URL without its TLS parameters, the TLS options, the password. */
export interface DatabaseConnection {
  /**
   * The URL, its `sslmode`, `sslrootcert`, `sslcert` and `sslkey` parameters removed (given as
   * `ssl`), with the password from the environment, its file or the .pgpass put in: a secret, to
   * log only through `redactUrl`.
   */
  url: string;
  /** node-postgres' `ssl`: false, or the TLS options. */
  ssl: false | {
    /**
     * False only for `require`: encrypted, the certificate not checked (libpq's meaning). With
     * true, node-postgres checks the chain and the URL's host name (verify-full) unless
     * `checkServerIdentity` says otherwise (verify-ca).
     */
    rejectUnauthorized: boolean;
    /** CA certificates (PEM). */
    ca?: string;
    /** Client certificate (PEM). */
    cert?: string;
    /** Client key (PEM). */
    key?: string;
    /** verify-ca: the chain is checked, the name is not. */
    checkServerIdentity?: () => undefined;
  };
}

const URL_TLS_PARAMS = ["sslmode", "sslrootcert", "sslcert", "sslkey"] as const;

/** Looks a password up in .pgpass text (libpq's format; `*` matches anything, `\` escapes). */
export function pgpassLookup(text: string, want: { host: string; port: string; database: string; user: string }) {
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const fields: string[] = [];
    let field = "";
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (c === "\\" && i + 1 < line.length) field += line[++i];
      else if (c === ":" && fields.length < 4) fields.push(field), field = "";
      else field += c;
    }
    fields.push(field);
    if (fields.length !== 5) continue;
    const [host, port, database, user, password] = fields as [string, string, string, string, string];
    const match = (pattern: string, value: string) => pattern === "*" || pattern === value;
    if (
      match(host, want.host) && match(port, want.port) && match(database, want.database) && match(user, want.user)
    ) return password;
  }
  return undefined;
}

/**
 * Resolves the PostgreSQL security settings of a URL. `names` is the env prefix and the flag
 * prefix of the settings ({@link CONSUMER_DATABASE}, {@link MIGRATE_DATABASE}), for the messages.
 *
 * @throws {ConfigError} naming the setting at fault
 */
export function resolveDatabaseSecurity(
  settings: DatabaseSecuritySettings,
  names: { env: string; flag: string },
  reader: FileReader = readFile,
): DatabaseConnection {
  const s = {
    sslmode: settings.databaseSslmode,
    sslrootcert: settings.databaseSslrootcert,
    sslcert: settings.databaseSslcert,
    sslkey: settings.databaseSslkey,
    password: settings.databasePassword,
    passwordFile: settings.databasePasswordFile,
    passfile: settings.databasePassfile,
  };
  const u = new URL(settings.databaseUrl);
  const setting = (key: string) => `--${names.flag}-${key} (${names.env}_${key.toUpperCase()})`;
  const fromUrl = (key: string) => u.searchParams.get(key) ?? undefined;
  const mode = s.sslmode ?? fromUrl("sslmode") ?? "disable";
  if (!["disable", "require", "verify-ca", "verify-full"].includes(mode)) {
    throw new ConfigError(
      `${names.env}_URL has sslmode=${mode}: expected disable, require, verify-ca or verify-full (or set ${
        setting("sslmode")
      })`,
    );
  }
  const rootcert = s.sslrootcert ?? fromUrl("sslrootcert");
  const cert = s.sslcert ?? fromUrl("sslcert");
  const key = s.sslkey ?? fromUrl("sslkey");
  for (const p of URL_TLS_PARAMS) u.searchParams.delete(p);
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(`a client certificate needs both ${setting("sslcert")} and ${setting("sslkey")}`);
  }
  if (mode === "disable" && (rootcert ?? cert) !== undefined) {
    throw new ConfigError(
      `${setting(rootcert !== undefined ? "sslrootcert" : "sslcert")} needs an sslmode other than disable`,
    );
  }
  if ((mode === "verify-ca" || mode === "verify-full") && rootcert === undefined) {
    throw new ConfigError(`sslmode ${mode} needs ${setting("sslrootcert")}: the CA the server's certificate chains to`);
  }
  const out: DatabaseConnection = { url: u.toString(), ssl: false };
  if (mode !== "disable") {
    out.ssl = {
      rejectUnauthorized: mode !== "require",
      ...(rootcert === undefined
        ? {}
        : { ca: read(setting("sslrootcert"), rootcert, reader, CERTIFICATE, "PEM certificate") }),
      ...(cert === undefined ? {} : {
        cert: read(setting("sslcert"), cert, reader, CERTIFICATE, "PEM certificate"),
        key: read(setting("sslkey"), key!, reader, PRIVATE_KEY, "PEM private key"),
      }),
      ...(mode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}),
    };
  }
  const password = secret(s.password, s.passwordFile, {
    env: `${names.env}_PASSWORD`,
    fileSetting: `--${names.flag}-password-file (${names.env}_PASSWORD_FILE)`,
  }, reader);
  let found = password;
  if (password !== undefined && u.password !== "") {
    throw new ConfigError(`${names.env}_URL has a password and ${names.env}_PASSWORD(_FILE) gives another: keep one`);
  }
  if (found === undefined && u.password === "" && s.passfile !== undefined) {
    found = pgpassLookup(read(setting("passfile"), s.passfile, reader), {
      host: u.hostname,
      port: u.port === "" ? "5432" : u.port,
      database: decodeURIComponent(u.pathname.replace(/^\//, "")),
      user: decodeURIComponent(u.username),
    });
  }
  // into the URL: node-postgres lets a URL without a password override a separate `password`
  if (found !== undefined) u.password = encodeURIComponent(found);
  out.url = u.toString();
  return out;
}
