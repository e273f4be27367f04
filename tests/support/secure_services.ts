/**
 * Secured services for the tests of TLS and authentication, started fresh and thrown away:
 *
 * - a throw-away CA, a server certificate for `localhost` (SAN `DNS:localhost,IP:127.0.0.1`) signed
 *   by it, a client certificate for mutual TLS (its key also encrypted with a passphrase), an
 *   unrelated second CA (the "unknown CA" case) and a certificate for `other.example` only, signed
 *   by the same CA (the "verify-full against another name" case);
 * - a second Kafka broker (`scripts/kafka.sh start` in its secured mode, `KAFKA_SECURITY_DIR`) beside
 *   the main one: PLAINTEXT on 127.0.0.1:19092, SSL with client certificates required on
 *   127.0.0.1:19093, SASL_SSL with SCRAM-SHA-512 on 127.0.0.1:19094, its controller on 19095;
 * - a PostgreSQL 15 cluster on 127.0.0.1:5433 accepting only `hostssl … scram-sha-256` (a
 *   connection without TLS is refused), holding a `heartbeat` database made as docker-compose makes
 *   it (`sql/initdb.sql`: every migration, recorded; then `sql/roles.sql`) and a generated password
 *   for `heartbeat_writer`;
 * - a copy of that cluster (no `heartbeat` database) on 127.0.0.1:5434 serving the `other.example`
 *   certificate: verify-full with `servername: "localhost"` must fail there, and succeed with
 *   `servername: "other.example"`.
 *
 * Everything lives in one folder, `${TMPDIR:-/tmp}/heartbeat-secure.XXXXXXXX`, written by
 * subprocesses (`secure_services.sh`: bash, openssl, keytool, initdb, pg_ctl, psql) so
 * that the tests need no `--allow-write`. As root the clusters run as the `postgres` OS user
 * (`runuser`); as any other user, as that user. Disposing stops the broker and both clusters and deletes the folder;
 * a folder left by a run whose process died is cleaned up by the next run.
 *
 * Requires `--allow-run` (bash, timeout) and `--allow-read` (PEM files, log tails on failure). The
 * clients a test makes need `--allow-net` for the addresses they use ({@link SECURE_SERVICES_NET}).
 *
 * Usage: `await using s = await secureServices();` then `s.kafka.ssl`, `s.caFile`, ….
 * `secureServices({ postgresPlaintext: true })` (bench/bench.ts's plaintext reference) makes the
 * cluster on 5433 also take the same scram-sha-256 login without TLS.
 *
 * @module
 */

/** Ports of the secured services (fixed, so that `--allow-net` can name them). */
export const SECURE_PORTS = {
  kafkaPlaintext: 19092,
  kafkaSsl: 19093,
  kafkaSaslSsl: 19094,
  kafkaController: 19095,
  postgres: 5433,
  postgresOtherName: 5434,
} as const;

/** Every client address of the secured services, as `--allow-net` takes them. */
export const SECURE_SERVICES_NET: readonly string[] = [
  SECURE_PORTS.kafkaPlaintext,
  SECURE_PORTS.kafkaSsl,
  SECURE_PORTS.kafkaSaslSsl,
  SECURE_PORTS.postgres,
  SECURE_PORTS.postgresOtherName,
].map((port) => `127.0.0.1:${port}`);

/** Options of {@link secureServices}. */
export interface SecureServicesOptions {
  /**
   * Also accept connections without TLS (same scram-sha-256 login) on the cluster on 5433, for a
   * like-for-like plaintext reference on the same server; default false (TLS only).
   */
  postgresPlaintext?: boolean;
}

/** The running secured services; dispose to stop them and delete their folder. */
export interface SecureServices extends AsyncDisposable {
  /** The throw-away folder holding certificates, keys, the broker's and the clusters' data. */
  dir: string;
  /** PEM of the CA that signed every server and client certificate below. */
  caFile: string;
  /** PEM of an unrelated CA, which signed nothing here: trusting only it must fail. */
  otherCaFile: string;
  /** PEM client certificate (CN=heartbeat-client) for Kafka's mutual-TLS listener. */
  clientCertFile: string;
  /** Its key, PEM (PKCS#8, unencrypted). */
  clientKeyFile: string;
  /** The same key encrypted (PKCS#8, AES-256-CBC) with {@link SecureServices.clientKeyPassphrase}. */
  clientKeyEncryptedFile: string;
  /** The passphrase of {@link SecureServices.clientKeyEncryptedFile}. */
  clientKeyPassphrase: string;
  /** PEM of the server certificate for `other.example` only (served by PostgreSQL on 5434). */
  otherNameCertFile: string;
  /** The second broker's listeners, as `host:port`. */
  kafka: {
    /** PLAINTEXT (also the inter-broker listener). */
    plaintext: string;
    /** SSL, client certificate required. */
    ssl: string;
    /** SASL_SSL, SCRAM-SHA-512, no client certificate. */
    saslSsl: string;
  };
  /** The SCRAM-SHA-512 user of the SASL_SSL listener. */
  scram: { mechanism: "scram-sha-512"; username: string; password: string };
  /** The TLS + scram-sha-256 cluster (no TLS options in the URLs: give the client `ssl: { ca, … }`). */
  postgres: {
    host: string;
    port: number;
    database: string;
    /** `postgres` superuser, with its password, on the `heartbeat` database. */
    adminUrl: string;
    /** `heartbeat_writer`, with its password, on the `heartbeat` database. */
    writerUrl: string;
    adminPassword: string;
    writerPassword: string;
    /** The copy serving the `other.example` certificate (database `postgres`; same superuser password). */
    otherName: { host: string; port: number; servername: string; adminUrl: string };
  };
  /** How long starting took, in milliseconds. */
  startupMs: number;
}

const SCRIPT = decodeURIComponent(new URL("./secure_services.sh", import.meta.url).pathname);
const KAFKA_SH = decodeURIComponent(new URL("../../scripts/kafka.sh", import.meta.url).pathname);
const HOST = "127.0.0.1";

/** A random secret of `bytes` bytes, hex (safe in URLs, StorageTool's SCRAM syntax and shell). */
function secret(bytes = 16): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A KRaft cluster id (what `StorageTool random-uuid` prints), made here to spare a JVM start. */
function clusterId(): string {
  for (;;) {
    const b64 = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    const id = b64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
    if (!id.startsWith("-")) return id; // as Kafka's Uuid.randomUuid, so the CLI never reads it as an option
  }
}

async function tailOf(file: string, lines = 25): Promise<string> {
  try {
    const text = (await Deno.readTextFile(file)).trimEnd().split("\n").slice(-lines).join("\n");
    return `\n--- last lines of ${file}:\n${text}`;
  } catch {
    return "";
  }
}

/**
 * Runs `what` (bash with args) under coreutils `timeout`, which kills its whole process group when
 * the time is up, so nothing it started hangs on. Returns stdout; throws naming `what`, with its
 * stderr and, on a timeout, the tails of `logs`.
 */
async function sh(
  what: string,
  args: string[],
  env: Record<string, string>,
  timeoutS: number,
  logs: string[] = [],
): Promise<string> {
  const out = await new Deno.Command("timeout", {
    args: ["--kill-after=5", String(timeoutS), "bash", ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.success) return new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr).trimEnd();
  const timedOut = out.code === 124 || out.code === 137;
  let message = timedOut ? `${what}: timed out after ${timeoutS} s` : `${what} failed (exit ${out.code})`;
  if (stderr !== "") message += `:\n${stderr}`;
  if (timedOut) { for (const log of logs) message += await tailOf(log); }
  throw new Error(`secureServices: ${message}`);
}

/**
 * Starts the secured broker and clusters (6–8 s on two cores); see the module doc. Fails,
 * naming what did not start and with the tail of its log, instead of hanging; whatever had started
 * is stopped and the folder deleted before it throws.
 */
export async function secureServices(options: SecureServicesOptions = {}): Promise<SecureServices> {
  const began = performance.now();
  const clientKeyPassphrase = secret(12);
  const scram = { mechanism: "scram-sha-512" as const, username: "heartbeat", password: secret() };
  const adminPassword = secret();
  const writerPassword = secret();
  const env: Record<string, string> = {
    OWNER_PID: String(Deno.pid),
    KEY_PASSPHRASE: clientKeyPassphrase,
    STORE_PASSWORD: secret(),
    SCRAM_USER: scram.username,
    SCRAM_PASSWORD: scram.password,
    POSTGRES_PASSWORD: adminPassword,
    WRITER_PASSWORD: writerPassword,
    PG_PORT: String(SECURE_PORTS.postgres),
    PG_OTHER_PORT: String(SECURE_PORTS.postgresOtherName),
    PG_PLAINTEXT_HOST: options.postgresPlaintext === true ? "1" : "0",
  };

  await sh("cleaning up earlier runs", [SCRIPT, "reap"], env, 60);
  await sh("checking the ports", [SCRIPT, "free", ...Object.values(SECURE_PORTS).map(String)], env, 10);
  const dir = (await sh("making the folder", [SCRIPT, "mkdir"], env, 10)).trim();
  const kafkaData = `${dir}/kafka`;
  const kafkaEnv = {
    ...env,
    KAFKA_DATA: kafkaData,
    KAFKA_PORT: String(SECURE_PORTS.kafkaPlaintext),
    KAFKA_SSL_PORT: String(SECURE_PORTS.kafkaSsl),
    KAFKA_SASL_SSL_PORT: String(SECURE_PORTS.kafkaSaslSsl),
    KAFKA_CONTROLLER_PORT: String(SECURE_PORTS.kafkaController),
    KAFKA_SECURITY_DIR: `${dir}/kafka-security`,
    KAFKA_HEAP_OPTS: "-Xms128m -Xmx384m",
    KAFKA_CLUSTER_ID: clusterId(),
    KAFKA_START_TIMEOUT: "40",
  };

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // both stops run even when one fails; the folder goes last, always
    const stops = await Promise.allSettled([
      sh("stopping Kafka", [SCRIPT, "kafka-stop", dir], env, 45),
      sh("stopping PostgreSQL", [SCRIPT, "postgres-stop", dir], env, 45),
    ]);
    await sh("removing the folder", [SCRIPT, "remove", dir], env, 30);
    const failed = stops.flatMap((r) => r.status === "rejected" ? [String(r.reason)] : []);
    if (failed.length > 0) throw new Error(failed.join("\n"));
  };

  try {
    await sh("making certificates", [SCRIPT, "certs", dir], env, 30);
    // the broker and the clusters start side by side; both are waited for before anything is judged
    const started = await Promise.allSettled([
      (async () => {
        await sh("making the broker's keystore and truststore", [SCRIPT, "kafka-stores", dir], env, 30);
        await sh(
          `starting the secured Kafka broker (127.0.0.1:${SECURE_PORTS.kafkaPlaintext}/${SECURE_PORTS.kafkaSsl}/${SECURE_PORTS.kafkaSaslSsl})`,
          [KAFKA_SH, "start"],
          kafkaEnv,
          60,
          [`${kafkaData}/logs/format.log`, `${kafkaData}/logs/stdout.log`, `${kafkaData}/logs/server.log`],
        );
      })(),
      sh(
        `starting PostgreSQL (127.0.0.1:${SECURE_PORTS.postgres} and ${SECURE_PORTS.postgresOtherName})`,
        [SCRIPT, "postgres-start", dir],
        env,
        60,
        [`${dir}/pg/initdb.log`, `${dir}/pg/main.log`, `${dir}/pg/other-name.log`, `${dir}/pg/setup.log`],
      ),
    ]);
    const failed = started.flatMap((r) =>
      r.status === "rejected" ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []
    );
    if (failed.length > 0) throw new Error(failed.join("\n"));
  } catch (error) {
    try {
      await stop();
    } catch (cleanup) {
      throw new Error(`${error instanceof Error ? error.message : error}\n(and cleaning up failed: ${cleanup})`, {
        cause: error,
      });
    }
    throw error;
  }

  const url = (user: string, password: string, port: number, database: string) =>
    `postgres://${user}:${password}@${HOST}:${port}/${database}`;
  const tls = `${dir}/tls`;
  return {
    dir,
    caFile: `${tls}/ca.pem`,
    otherCaFile: `${tls}/other-ca.pem`,
    clientCertFile: `${tls}/client.pem`,
    clientKeyFile: `${tls}/client.key`,
    clientKeyEncryptedFile: `${tls}/client.encrypted.key`,
    clientKeyPassphrase,
    otherNameCertFile: `${tls}/other-name.pem`,
    kafka: {
      plaintext: `${HOST}:${SECURE_PORTS.kafkaPlaintext}`,
      ssl: `${HOST}:${SECURE_PORTS.kafkaSsl}`,
      saslSsl: `${HOST}:${SECURE_PORTS.kafkaSaslSsl}`,
    },
    scram,
    postgres: {
      host: HOST,
      port: SECURE_PORTS.postgres,
      database: "heartbeat",
      adminUrl: url("postgres", adminPassword, SECURE_PORTS.postgres, "heartbeat"),
      writerUrl: url("heartbeat_writer", writerPassword, SECURE_PORTS.postgres, "heartbeat"),
      adminPassword,
      writerPassword,
      otherName: {
        host: HOST,
        port: SECURE_PORTS.postgresOtherName,
        servername: "other.example",
        adminUrl: url("postgres", adminPassword, SECURE_PORTS.postgresOtherName, "postgres"),
      },
    },
    startupMs: Math.round(performance.now() - began),
    [Symbol.asyncDispose]: stop,
  };
}
