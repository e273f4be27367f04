/**
 * The pipeline against secured servers, for real: a throw-away CA and certificates, a second
 * Kafka broker with a mutual-TLS listener and a SASL_SSL (SCRAM-SHA-512) listener, and a
 * PostgreSQL cluster that takes only TLS with scram-sha-256 (tests/support/secure_services.ts).
 * The producer publishes over SASL_SSL, the consumer reads over mutual TLS with an encrypted key
 * and writes over verify-full with a password from a file: every reading stored once, and no
 * secret in any line either program printed. Then each misconfiguration a user can make stops
 * the program with one line naming the setting, a non-zero exit, within 30 s.
 */
import assert from "node:assert/strict";
import {
  groupCaughtUp,
  integrationTest,
  producerArgs,
  type SeededRun,
  simulateRun,
  spawnTask,
  uniqueName,
  waitUntil,
} from "./support/helpers.ts";
import { type SecureServices, secureServices } from "./support/secure_services.ts";
import "../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import { Kafka, logLevel } from "kafkajs";
import { readFileSync } from "node:fs";
// @ts-types="@types/pg"
import pg from "pg";

const RUN: SeededRun = {
  seed: 11,
  customers: 5,
  rate: 2000,
  count: 3000,
  start: "2026-11-20T08:00:00Z",
  invalidRate: 0.02,
  anomalyRate: 0.01,
};

/** Writes a file into the services' folder (the tests have no --allow-write: through a subprocess). */
async function writeFile(path: string, text: string): Promise<void> {
  const child = new Deno.Command("bash", { args: ["-c", `cat >"$1"`, "_", path], stdin: "piped" }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  assert.equal((await child.status).code, 0, `could not write ${path}`);
}

/** The settings of the producer over SASL_SSL with SCRAM-SHA-512. */
function saslEnv(s: SecureServices): Record<string, string> {
  return {
    KAFKA_BROKERS: s.kafka.saslSsl,
    KAFKA_SECURITY_PROTOCOL: "sasl_ssl",
    KAFKA_SSL_CA_FILE: s.caFile,
    KAFKA_SSL_SERVERNAME: "localhost",
    KAFKA_SASL_MECHANISM: "scram-sha-512",
    KAFKA_SASL_USERNAME: s.scram.username,
    KAFKA_SASL_PASSWORD: s.scram.password,
  };
}

/** The settings of the consumer over mutual TLS (encrypted key) and PostgreSQL verify-full. */
function mtlsEnv(s: SecureServices, passwordFile: string): Record<string, string> {
  const writer = new URL(s.postgres.writerUrl);
  writer.password = "";
  return {
    KAFKA_BROKERS: s.kafka.ssl,
    KAFKA_SECURITY_PROTOCOL: "ssl",
    KAFKA_SSL_CA_FILE: s.caFile,
    KAFKA_SSL_SERVERNAME: "localhost",
    KAFKA_SSL_CERT_FILE: s.clientCertFile,
    KAFKA_SSL_KEY_FILE: s.clientKeyEncryptedFile,
    KAFKA_SSL_KEY_PASSWORD: s.clientKeyPassphrase,
    DATABASE_URL: writer.toString(),
    DATABASE_SSLMODE: "verify-full",
    DATABASE_SSLROOTCERT: s.caFile,
    DATABASE_PASSWORD_FILE: passwordFile,
  };
}

integrationTest(
  "over SASL_SSL, mutual TLS and PostgreSQL verify-full the pipeline stores every reading once, prints no secret, and each misconfiguration stops a program with one line naming the setting",
  async (t) => {
    await using s = await secureServices();
    const passwordFile = `${s.dir}/db-password`;
    await writeFile(passwordFile, `${s.postgres.writerPassword}\n`);
    const secrets = [s.scram.password, s.clientKeyPassphrase, s.postgres.writerPassword, s.postgres.adminPassword];
    const topic = uniqueName("heartbeat-secure").replaceAll("_", "-");
    const group = uniqueName("g-secure");
    const { messages } = simulateRun(RUN);
    const valid = messages.filter((m) => m.truth.valid).length;

    await t.step("the whole pipeline: producer over SASL_SSL, consumer over mTLS + verify-full", async () => {
      const producer = await spawnTask("producer", producerArgs(topic, RUN), saslEnv(s));
      const produced = await producer.status;
      assert.equal(produced.code, 0, producer.stderr());
      const env = {
        ...mtlsEnv(s, passwordFile),
        KAFKA_TOPIC: topic,
        KAFKA_GROUP_ID: group,
        HEARTBEAT_CONSUMER_METRICS_PORT: "9464",
      };
      await using consumer = await spawnTask("consumer", [], env);
      const db = new pg.Client({
        connectionString: s.postgres.adminUrl,
        ssl: { ca: readFileSync(s.caFile, "utf8") },
      });
      await db.connect();
      try {
        const count = async () =>
          (await db.query<{ readings: number; letters: number }>(
            `SELECT (SELECT count(*)::int FROM readings) AS readings,
                    (SELECT count(*)::int FROM dead_letters WHERE topic = $1) AS letters`,
            [topic],
          )).rows[0]!;
        await waitUntil("every message to be stored", async () => {
          const c = await count();
          return c.readings + c.letters >= RUN.count;
        }, 90_000).catch((e) => {
          throw new Error(`${e.message}; consumer said:\n${consumer.stderr().slice(-3000)}`);
        });
        const kafka = new Kafka({
          brokers: [s.kafka.saslSsl],
          ssl: { ca: [readFileSync(s.caFile, "utf8")], servername: "localhost" },
          sasl: { mechanism: "scram-sha-512", username: s.scram.username, password: s.scram.password },
          logLevel: logLevel.NOTHING,
        });
        await waitUntil("the offsets to be committed", () => groupCaughtUp(kafka, topic, group), 60_000);
        const metrics = await (await fetch("http://127.0.0.1:9464/metrics")).text();
        assert.match(metrics, /heartbeat_consumer_readings_stored_total \d+/);
        for (const secret of secrets) assert.ok(!metrics.includes(secret), "/metrics shows a secret");
        consumer.kill("SIGTERM");
        assert.equal((await consumer.status).code, 0, consumer.stderr());
        const c = await count();
        assert.equal(c.readings, valid, "every valid reading stored once");
        assert.equal(c.letters, RUN.count - valid, "every invalid one dead-lettered once");
        const { rows } = await db.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        assert.equal(rows[0]?.ssl, true);
      } finally {
        await db.end();
      }
      for (
        const [who, out] of [["producer", producer.stderr() + producer.stdout()], [
          "consumer",
          consumer.stderr() + consumer.stdout(),
        ]] as const
      ) {
        assert.ok(out.split("\n").length > 3, `${who} printed its log`);
        for (const secret of secrets) assert.ok(!out.includes(secret), `${who} printed a secret`);
        assert.match(out, /"msg":"kafka connection".*"tls":\{"customCa":true/, `${who} says how it connects`);
      }
    });

    await t.step(
      "each SASL mechanism over TLS publishes: PLAIN, SCRAM-SHA-256, OAUTHBEARER from a token file",
      async (t) => {
        const b64 = (o: unknown) =>
          btoa(JSON.stringify(o)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
        const now = Math.floor(Date.now() / 1000);
        // Kafka's unsecured validator (test brokers only) takes an unsigned JWT
        const tokenFile = `${s.dir}/oauth-token`;
        await writeFile(
          tokenFile,
          `${b64({ alg: "none" })}.${b64({ sub: s.scram.username, iat: now, exp: now + 3600 })}.\n`,
        );
        const sasl = saslEnv(s);
        const mechanisms: [string, Record<string, string>][] = [
          ["plain", { ...sasl, KAFKA_SASL_MECHANISM: "plain" }],
          ["scram-sha-256", { ...sasl, KAFKA_SASL_MECHANISM: "scram-sha-256" }],
          ["oauthbearer", {
            ...sasl,
            KAFKA_SASL_MECHANISM: "oauthbearer",
            KAFKA_SASL_USERNAME: "",
            KAFKA_SASL_PASSWORD: "",
            KAFKA_OAUTH_TOKEN_FILE: tokenFile,
          }],
        ];
        for (const [mechanism, env] of mechanisms) {
          await t.step(mechanism, async () => {
            const producer = await spawnTask(
              "producer",
              producerArgs(`${topic}-${mechanism}`, { ...RUN, count: 20 }),
              env,
            );
            const status = await producer.status;
            assert.equal(status.code, 0, producer.stderr());
            assert.match(producer.stderr(), /"msg":"done".*"acknowledged":20/);
            assert.match(producer.stderr(), new RegExp(`"sasl":\\{"mechanism":"${mechanism}"`));
          });
        }
      },
    );

    await t.step("db:migrate over verify-full with the admin password from a file", async () => {
      const adminFile = `${s.dir}/admin-password`;
      await writeFile(adminFile, s.postgres.adminPassword);
      const admin = new URL(s.postgres.adminUrl);
      admin.password = "";
      const migrate = await spawnTask("db:migrate", [], {
        DATABASE_ADMIN_URL: admin.toString(),
        DATABASE_ADMIN_SSLMODE: "verify-full",
        DATABASE_ADMIN_SSLROOTCERT: s.caFile,
        DATABASE_ADMIN_PASSWORD_FILE: adminFile,
      });
      const status = await migrate.status;
      assert.equal(status.code, 0, migrate.stderr());
      assert.match(migrate.stderr(), /schema is up to date at version \d+/, "initdb.sql made it as db:migrate would");
      assert.ok(!migrate.stderr().includes(s.postgres.adminPassword), "no secret");
    });

    // each: who runs, its settings, what the one line must say
    const wrongName = `postgres://postgres@127.0.0.1:${s.postgres.otherName.port}/postgres`;
    const cases: [string, "producer" | "consumer" | "db:migrate", Record<string, string>, RegExp][] = [
      [
        "wrong SASL password",
        "producer",
        { ...saslEnv(s), KAFKA_SASL_PASSWORD: "not-the-password" },
        /^error: .*SASL SCRAM SHA512 authentication failed/m,
      ],
      [
        "unknown CA",
        "producer",
        { ...saslEnv(s), KAFKA_SSL_CA_FILE: s.otherCaFile },
        /^error: Kafka broker 127\.0\.0\.1:19094 over TLS: .*(check --kafka-ca-file)/m,
      ],
      [
        "server name mismatch",
        "producer",
        { ...saslEnv(s), KAFKA_SSL_SERVERNAME: "other.example" },
        /^error: Kafka broker 127\.0\.0\.1:19094 over TLS: .*(check --kafka-ca-file, --kafka-servername)/m,
      ],
      [
        "plaintext client to a TLS port",
        "producer",
        { KAFKA_BROKERS: s.kafka.ssl },
        /^error: Kafka broker 127\.0\.0\.1:19093 over plaintext: .*set --kafka-security ssl or sasl_ssl/m,
      ],
      [
        "TLS client to a plaintext port",
        "producer",
        { ...saslEnv(s), KAFKA_BROKERS: s.kafka.plaintext },
        /^error: Kafka broker 127\.0\.0\.1:19092 over TLS: /m,
      ],
      [
        "mutual TLS without a client certificate",
        "producer",
        { KAFKA_BROKERS: s.kafka.ssl, KAFKA_SECURITY_PROTOCOL: "ssl", KAFKA_SSL_CA_FILE: s.caFile },
        /^error: Kafka broker 127\.0\.0\.1:19093 over TLS: /m,
      ],
      [
        "missing certificate file",
        "producer",
        { ...saslEnv(s), KAFKA_SSL_CA_FILE: `${s.dir}/no-such-ca.pem` },
        /^error: Cannot read --kafka-ca-file \(KAFKA_SSL_CA_FILE\) .*no-such-ca\.pem: no such file$/m,
      ],
      [
        "unreadable certificate file (a folder)",
        "producer",
        { ...mtlsEnv(s, passwordFile), KAFKA_SSL_CERT_FILE: s.dir },
        /^error: Cannot read --kafka-cert-file \(KAFKA_SSL_CERT_FILE\) /m,
      ],
      [
        "a key without its certificate",
        "producer",
        { ...saslEnv(s), KAFKA_SSL_KEY_FILE: s.clientKeyFile },
        /^error: mutual TLS needs both --kafka-cert-file \(KAFKA_SSL_CERT_FILE\) and --kafka-key-file/m,
      ],
      [
        "SASL over plaintext without the opt-in",
        "producer",
        {
          KAFKA_BROKERS: s.kafka.plaintext,
          KAFKA_SECURITY_PROTOCOL: "sasl_plaintext",
          KAFKA_SASL_MECHANISM: "scram-sha-512",
          KAFKA_SASL_USERNAME: s.scram.username,
          KAFKA_SASL_PASSWORD: s.scram.password,
        },
        /^error: --kafka-security sasl_plaintext sends the password unencrypted/m,
      ],
      [
        "PostgreSQL wrong password",
        "consumer",
        { ...mtlsEnv(s, passwordFile), DATABASE_PASSWORD_FILE: "", DATABASE_PASSWORD: "not-the-password" },
        /^error: the database refused the login or access \(password authentication failed/m,
      ],
      [
        "PostgreSQL verify-full against a certificate for another name",
        "consumer",
        {
          ...mtlsEnv(s, passwordFile),
          DATABASE_URL: wrongName,
          DATABASE_PASSWORD_FILE: "",
          DATABASE_PASSWORD: s.postgres.adminPassword,
        },
        /^error: TLS to the database failed \(.*(altnames|does not match).*\): check --database-sslmode/m,
      ],
      [
        "db:migrate with a wrong admin password",
        "db:migrate",
        {
          DATABASE_ADMIN_URL: s.postgres.adminUrl.replace(`:${s.postgres.adminPassword}@`, ":not-the-password@"),
          DATABASE_ADMIN_SSLMODE: "verify-full",
          DATABASE_ADMIN_SSLROOTCERT: s.caFile,
        },
        /^error: migration failed for postgres:\/\/postgres:\*\*\*@.*password authentication failed/m,
      ],
      [
        "PostgreSQL verify-full without a root certificate",
        "consumer",
        { ...mtlsEnv(s, passwordFile), DATABASE_SSLROOTCERT: "" },
        /^error: sslmode verify-full needs --database-sslrootcert \(DATABASE_SSLROOTCERT\)/m,
      ],
    ];
    for (const [name, program, env, expected] of cases) {
      await t.step(name, async () => {
        const started = performance.now();
        const args = program === "producer" ? producerArgs(`${topic}-x`, { ...RUN, count: 10 }) : [];
        await using child = await spawnTask(program, args, { ...env, KAFKA_TOPIC: `${topic}-x` });
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
        const status = await child.status;
        clearTimeout(timer);
        const err = child.stderr();
        if (performance.now() - started >= 30_000) {
          assert.fail(`${name}: still running after 30 s:\n${err.slice(-2000)}`);
        }
        assert.notEqual(status.code, 0, err);
        assert.ok(performance.now() - started < 30_000, `${name}: stopped within 30 s`);
        assert.match(err, expected);
        assert.equal(err.split("\n").filter((l) => l.startsWith("error: ")).length, 1, `one error line:\n${err}`);
        assert.doesNotMatch(err, /^\s+at /m, "no stack trace");
        for (const secret of secrets) assert.ok(!err.includes(secret) && !child.stdout().includes(secret), "no secret");
      });
    }
  },
  300_000,
);
