/**
 * The secured services of `tests/support/secure_services.ts` come up and answer real clients:
 * kafkajs over mutual TLS (plain and passphrase-encrypted client key) and over SASL_SSL with
 * SCRAM-SHA-512, node-postgres over TLS with scram-sha-256 as heartbeat_writer; and each wrong
 * setting is refused: a wrong SCRAM password, no client certificate, an unknown CA, a certificate
 * for another name, a wrong database password, no TLS at all.
 *
 * Needs `--allow-run --allow-read` and `--allow-net=127.0.0.1:9092,127.0.0.1:5432` (the
 * integration-test probe) plus `127.0.0.1:19093,127.0.0.1:19094,127.0.0.1:5433,127.0.0.1:5434`.
 */
import "../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import assert from "node:assert/strict";
import kafkajs, { Kafka, type KafkaConfig, logLevel } from "kafkajs";
// @ts-types="@types/pg"
import pg from "pg";
import { integrationTest } from "./support/helpers.ts";
import { SECURE_PORTS, secureServices } from "./support/secure_services.ts";

// kafkajs spreads its error classes into module.exports, where Deno does not find named exports
const { KafkaJSSASLAuthenticationError } = kafkajs;

const { kafkaSsl, kafkaSaslSsl, postgres, postgresOtherName } = SECURE_PORTS;
const NEEDED_NET = [kafkaSsl, kafkaSaslSsl, postgres, postgresOtherName].map((port) => `127.0.0.1:${port}`);

type Admin = ReturnType<Kafka["admin"]>;

/** Runs `fn` with a connected kafkajs admin that gives up at once (no retries, short timeouts). */
async function withAdmin<T>(config: Omit<KafkaConfig, "clientId">, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({
    clientId: "heartbeat-secure-services-test",
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5_000,
    authenticationTimeout: 5_000,
    requestTimeout: 10_000,
    retry: { retries: 0 },
    ...config,
  }).admin();
  try {
    await admin.connect();
    return await fn(admin);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

const listTopics = (config: Omit<KafkaConfig, "clientId">) => withAdmin(config, (admin) => admin.listTopics());

/** Connects with node-postgres, runs `sql`, and returns its rows. */
async function pgQuery(config: pg.ClientConfig, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionTimeoutMillis: 5_000, ...config });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Asserts that `promise` rejects with a message (its own or its cause's) matching `pattern`. */
async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    const messages = [e, (e as { cause?: unknown })?.cause].map((x) => x instanceof Error ? x.message : String(x));
    assert.ok(messages.some((m) => pattern.test(m)), `expected ${pattern}, got: ${messages.join(" / ")}`);
    return true;
  });
}

integrationTest(
  "secured Kafka (mutual TLS, SCRAM-SHA-512) and PostgreSQL (TLS, scram-sha-256) serve real clients",
  async (t) => {
    for (const host of NEEDED_NET) {
      const { state } = await Deno.permissions.query({ name: "net", host });
      assert.equal(state, "granted", `this test needs --allow-net=${NEEDED_NET.join(",")} (and 9092, 5432)`);
    }
    await using s = await secureServices();
    console.log(`secure services up in ${(s.startupMs / 1000).toFixed(1)} s (${s.dir})`);
    const read = (file: string) => Deno.readTextFile(file);
    const [ca, otherCa, cert, key, encryptedKey] = await Promise.all([
      read(s.caFile),
      read(s.otherCaFile),
      read(s.clientCertFile),
      read(s.clientKeyFile),
      read(s.clientKeyEncryptedFile),
    ]);
    const topic = "secure-services-smoke";
    // a fresh object each time: kafkajs stores in the sasl object it is given an authenticationProvider
    // bound to its credentials, so a copy of a used one (`{ ...sasl, password }`) keeps the old password
    const sasl = (password = s.scram.password) => ({
      mechanism: s.scram.mechanism,
      username: s.scram.username,
      password,
    });
    const tls = { ca: [ca], servername: "localhost" };

    await t.step("kafkajs over SSL with a client certificate (mutual TLS) creates and lists a topic", async () => {
      const topics = await withAdmin({ brokers: [s.kafka.ssl], ssl: { ...tls, cert, key } }, async (admin) => {
        assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }), true);
        return admin.listTopics();
      });
      assert.deepEqual(topics, [topic]);
    });

    await t.step("kafkajs over SSL with the passphrase-encrypted client key", async () => {
      const ssl = { ...tls, cert, key: encryptedKey, passphrase: s.clientKeyPassphrase };
      assert.deepEqual(await listTopics({ brokers: [s.kafka.ssl], ssl }), [topic]);
    });

    await t.step("kafkajs over SASL_SSL with SCRAM-SHA-512 and the CA lists the topic", async () => {
      assert.deepEqual(await listTopics({ brokers: [s.kafka.saslSsl], ssl: tls, sasl: sasl() }), [topic]);
    });

    await t.step("a wrong SCRAM password fails with KafkaJSSASLAuthenticationError", async () => {
      await assert.rejects(
        listTopics({ brokers: [s.kafka.saslSsl], ssl: tls, sasl: sasl("wrong") }),
        KafkaJSSASLAuthenticationError,
      );
    });

    await t.step("the mutual-TLS listener refuses a client without a certificate", async () => {
      // under TLS 1.3 the broker checks the client's certificate after the handshake and then
      // closes: kafkajs reports the alert, or the closed socket in one of several words, depending
      // on when its first request meets the close ("Not connected": seen in 2 of about 10 runs).
      // The step before proves the same listener serves a client with a certificate.
      await rejectsWith(
        listTopics({ brokers: [s.kafka.ssl], ssl: tls }),
        /BadCertificate|certificate required|write after end|ECONNRESET|socket hang up|Not connected/i,
      );
    });

    await t.step("kafkajs trusting an unknown CA is refused", async () => {
      const ssl = { ...tls, ca: [otherCa] };
      await rejectsWith(listTopics({ brokers: [s.kafka.saslSsl], ssl, sasl: sasl() }), /self-signed|unable to verify/i);
    });

    await t.step("kafkajs verify-full against another name is refused", async () => {
      const ssl = { ...tls, servername: "other.example" };
      await rejectsWith(listTopics({ brokers: [s.kafka.saslSsl], ssl, sasl: sasl() }), /does not match|altnames/i);
    });

    const writer = {
      host: s.postgres.host,
      port: s.postgres.port,
      database: s.postgres.database,
      user: "heartbeat_writer",
      password: s.postgres.writerPassword,
      ssl: { ca, servername: "localhost" },
    };

    await t.step("node-postgres as heartbeat_writer over TLS (verify-full) reads readings", async () => {
      assert.deepEqual(await pgQuery(writer, "SELECT 1 FROM readings LIMIT 0"), []);
      const [row] = await pgQuery(
        { connectionString: s.postgres.writerUrl, ssl: writer.ssl },
        "SELECT ssl, current_user FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
      );
      assert.deepEqual(row, { ssl: true, current_user: "heartbeat_writer" });
    });

    await t.step("node-postgres trusting an unknown CA is refused", async () => {
      const ssl = { ca: otherCa, servername: "localhost" };
      await rejectsWith(pgQuery({ ...writer, ssl }, "SELECT 1"), /unable to verify|self-signed/i);
    });

    await t.step("verify-full against a certificate for another name is refused; the right name passes", async () => {
      const { host, port, servername, adminUrl } = s.postgres.otherName;
      const other = { host, port, user: "postgres", password: s.postgres.adminPassword, database: "postgres" };
      await rejectsWith(
        pgQuery({ ...other, ssl: { ca, servername: "localhost" } }, "SELECT 1"),
        /is not in the cert's altnames: DNS:other\.example/,
      );
      assert.deepEqual(await pgQuery({ connectionString: adminUrl, ssl: { ca, servername } }, "SELECT 1 AS one"), [{
        one: 1,
      }]);
    });

    await t.step("a wrong password, and a connection without TLS, are refused", async () => {
      await rejectsWith(pgQuery({ ...writer, password: "wrong" }, "SELECT 1"), /password authentication failed/);
      await rejectsWith(pgQuery({ ...writer, ssl: false }, "SELECT 1"), /no pg_hba\.conf entry .* no encryption/);
    });
  },
  180_000,
);
