/**
 * The settings for secured clusters: Kafka TLS, mutual TLS and SASL, and PostgreSQL TLS, client
 * certificates and passwords. Secrets (passwords, passphrases) are read from the environment or
 * from a file, never from a flag (a flag shows in `ps`), and never shown in `--help` or in an
 * error.
 *
 * @module
 */
import { z } from "zod";
import { optional, type OptionSpec, parse } from "./options.ts";

/** A file path (read at start, with `--allow-read` of exactly that path). */
const path = z.string().trim().min(1, "expected a file path").refine((p) => !p.includes(","), {
  message: "expected a file path without a comma (Deno's --allow-read lists are comma-separated)",
});

/** Kafka's security protocols, as Kafka names them (lower case). */
export const KAFKA_PROTOCOLS = ["plaintext", "ssl", "sasl_ssl", "sasl_plaintext"] as const;

/** The SASL mechanisms the clients speak. */
export const SASL_MECHANISMS = ["plain", "scram-sha-256", "scram-sha-512", "oauthbearer"] as const;

/** PostgreSQL's `sslmode` values the consumer supports (libpq's meaning of each). */
export const SSL_MODES = ["disable", "require", "verify-ca", "verify-full"] as const;

/** The Kafka security settings, shared by the producer and the consumer. */
export const kafkaSecurityOptions = {
  kafkaSecurity: {
    flag: "kafka-security",
    env: "KAFKA_SECURITY_PROTOCOL",
    help:
      "plaintext, ssl (TLS; mutual with a client certificate), sasl_ssl, or sasl_plaintext (needs --kafka-allow-plaintext-sasl)",
    default: "plaintext",
    schema: z.string().trim().toLowerCase().pipe(
      z.enum(KAFKA_PROTOCOLS, { message: "expected plaintext, ssl, sasl_ssl or sasl_plaintext" }),
    ),
  },
  kafkaCaFile: {
    flag: "kafka-ca-file",
    env: "KAFKA_SSL_CA_FILE",
    help: "PEM file of the CA certificates the brokers' certificates must chain to (default: the system's)",
    schema: optional(path),
  },
  kafkaServername: {
    flag: "kafka-servername",
    env: "KAFKA_SSL_SERVERNAME",
    help: "Name the brokers' certificates must carry (default: each broker's host name)",
    schema: optional(parse.host),
  },
  kafkaCertFile: {
    flag: "kafka-cert-file",
    env: "KAFKA_SSL_CERT_FILE",
    help: "PEM client certificate for mutual TLS (with --kafka-key-file)",
    schema: optional(path),
  },
  kafkaKeyFile: {
    flag: "kafka-key-file",
    env: "KAFKA_SSL_KEY_FILE",
    help: "PEM private key of the client certificate",
    schema: optional(path),
  },
  kafkaKeyPassword: {
    env: "KAFKA_SSL_KEY_PASSWORD",
    help: "Passphrase of an encrypted client key (secret: environment only)",
    secret: true,
    schema: optional(z.string()),
  },
  kafkaKeyPasswordFile: {
    flag: "kafka-key-password-file",
    env: "KAFKA_SSL_KEY_PASSWORD_FILE",
    help: "File holding the client key's passphrase (instead of KAFKA_SSL_KEY_PASSWORD)",
    schema: optional(path),
  },
  kafkaSaslMechanism: {
    flag: "kafka-sasl-mechanism",
    env: "KAFKA_SASL_MECHANISM",
    help: "plain, scram-sha-256, scram-sha-512 or oauthbearer (with sasl_ssl or sasl_plaintext)",
    schema: optional(
      z.string().trim().toLowerCase().pipe(
        z.enum(SASL_MECHANISMS, { message: "expected plain, scram-sha-256, scram-sha-512 or oauthbearer" }),
      ),
    ),
  },
  kafkaSaslUsername: {
    flag: "kafka-sasl-username",
    env: "KAFKA_SASL_USERNAME",
    help: "SASL user name",
    schema: optional(z.string().min(1, "expected a user name")),
  },
  kafkaSaslPassword: {
    env: "KAFKA_SASL_PASSWORD",
    help: "SASL password (secret: environment only)",
    secret: true,
    schema: optional(z.string()),
  },
  kafkaSaslPasswordFile: {
    flag: "kafka-sasl-password-file",
    env: "KAFKA_SASL_PASSWORD_FILE",
    help: "File holding the SASL password (instead of KAFKA_SASL_PASSWORD)",
    schema: optional(path),
  },
  kafkaOauthTokenFile: {
    flag: "kafka-oauth-token-file",
    env: "KAFKA_OAUTH_TOKEN_FILE",
    help: "File holding the OAUTHBEARER token, re-read at every authentication (a token agent keeps it fresh)",
    schema: optional(path),
  },
  kafkaAllowPlaintextSasl: {
    flag: "kafka-allow-plaintext-sasl",
    env: "KAFKA_ALLOW_PLAINTEXT_SASL",
    help: "Allow sasl_plaintext: credentials cross the network unencrypted (logged as a warning)",
    default: "false",
    boolean: true,
    schema: parse.boolean,
  },
} satisfies Record<string, OptionSpec>;

/**
 * The PostgreSQL security settings of one connection URL setting, e.g. `DATABASE` for the
 * consumer's `DATABASE_URL` (`DATABASE_SSLMODE`, ...) and `DATABASE_ADMIN` for db:migrate's.
 *
 * @param env the env prefix, e.g. `DATABASE`
 * @param flag the flag prefix, e.g. `database` (`--database-sslmode`)
 */
export function databaseSecurityOptions(env: string, flag: string) {
  return {
    sslmode: {
      flag: `${flag}-sslmode`,
      env: `${env}_SSLMODE`,
      help:
        "disable, require (encrypt, no check), verify-ca (certificate chains to --*-sslrootcert) or verify-full (and names the host); default: the URL's sslmode, else disable",
      schema: optional(
        z.string().trim().toLowerCase().pipe(
          z.enum(SSL_MODES, { message: "expected disable, require, verify-ca or verify-full" }),
        ),
      ),
    },
    sslrootcert: {
      flag: `${flag}-sslrootcert`,
      env: `${env}_SSLROOTCERT`,
      help: "PEM file of the CA certificates the server's certificate must chain to (verify-ca, verify-full)",
      schema: optional(path),
    },
    sslcert: {
      flag: `${flag}-sslcert`,
      env: `${env}_SSLCERT`,
      help: "PEM client certificate, when the server asks for one",
      schema: optional(path),
    },
    sslkey: {
      flag: `${flag}-sslkey`,
      env: `${env}_SSLKEY`,
      help: "PEM private key of the client certificate",
      schema: optional(path),
    },
    password: {
      env: `${env}_PASSWORD`,
      help: "Password, when the URL has none (secret: environment only)",
      secret: true,
      schema: optional(z.string()),
    },
    passwordFile: {
      flag: `${flag}-password-file`,
      env: `${env}_PASSWORD_FILE`,
      help: `File holding the password (the container-secrets convention; instead of ${env}_PASSWORD)`,
      schema: optional(path),
    },
    passfile: {
      flag: `${flag}-passfile`,
      env: `${env}_PASSFILE`,
      help: "A .pgpass file to look the password up in (host:port:database:user:password lines)",
      schema: optional(path),
    },
  } satisfies Record<string, OptionSpec>;
}
