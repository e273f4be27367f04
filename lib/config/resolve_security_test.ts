import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "./options.ts";
import {
  CONSUMER_DATABASE,
  type DatabaseSecuritySettings,
  type FileReader,
  type KafkaSecuritySettings,
  pgpassLookup,
  resolveDatabaseSecurity,
  resolveKafkaSecurity,
} from "./resolve_security.ts";
import { consumerOptions, producerOptions } from "./tables.ts";

const CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
const FILES: Record<string, string> = {
  "/ca.pem": CERT,
  "/cert.pem": CERT,
  "/key.pem": KEY,
  "/sasl-password": "s3cret\n",
  "/db-password": "db-s3cret\n",
  "/token": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJoZWFydGJlYXQifQ.\n",
  "/empty": "\n",
  "/not-a-cert": "hello",
  "/pgpass": "# comment\nother:5432:*:*:nope\ndb.internal:6432:hb:writer:from\\:pgpass\n",
};
const reader: FileReader = (path) => {
  const text = FILES[path];
  if (text === undefined) throw new Deno.errors.NotFound(`No such file or directory (os error 2): readfile '${path}'`);
  return text;
};

/** A ConfigError whose message is one line matching `pattern`. */
const oneLine = (pattern: RegExp) => (e: unknown) =>
  e instanceof ConfigError && pattern.test(e.message) && !e.message.includes("\n");

const kafka = (over: Partial<KafkaSecuritySettings>): KafkaSecuritySettings => ({
  kafkaSecurity: "plaintext",
  kafkaCaFile: undefined,
  kafkaServername: undefined,
  kafkaCertFile: undefined,
  kafkaKeyFile: undefined,
  kafkaKeyPassword: undefined,
  kafkaKeyPasswordFile: undefined,
  kafkaSaslMechanism: undefined,
  kafkaSaslUsername: undefined,
  kafkaSaslPassword: undefined,
  kafkaSaslPasswordFile: undefined,
  kafkaOauthTokenFile: undefined,
  kafkaAllowPlaintextSasl: false,
  ...over,
});

Deno.test("resolveKafkaSecurity() builds TLS and SASL options from the settings", async (t) => {
  const cases: [string, Partial<KafkaSecuritySettings>, unknown][] = [
    ["plaintext", {}, { ssl: false, plaintextSasl: false }],
    ["TLS with the system's CAs", { kafkaSecurity: "ssl" }, {
      ssl: { rejectUnauthorized: true },
      plaintextSasl: false,
    }],
    [
      "mutual TLS with an encrypted key and a server name",
      {
        kafkaSecurity: "ssl",
        kafkaCaFile: "/ca.pem",
        kafkaCertFile: "/cert.pem",
        kafkaKeyFile: "/key.pem",
        kafkaKeyPassword: "pass",
        kafkaServername: "kafka.internal",
      },
      {
        ssl: {
          rejectUnauthorized: true,
          ca: [CERT],
          cert: CERT,
          key: KEY,
          passphrase: "pass",
          servername: "kafka.internal",
        },
        plaintextSasl: false,
      },
    ],
    [
      "SASL_SSL with SCRAM and the password from a file",
      {
        kafkaSecurity: "sasl_ssl",
        kafkaSaslMechanism: "scram-sha-512",
        kafkaSaslUsername: "heartbeat",
        kafkaSaslPasswordFile: "/sasl-password",
      },
      {
        ssl: { rejectUnauthorized: true },
        sasl: { mechanism: "scram-sha-512", username: "heartbeat", password: "s3cret" },
        plaintextSasl: false,
      },
    ],
    [
      "OAUTHBEARER from a token file (re-read by the client)",
      { kafkaSecurity: "sasl_ssl", kafkaSaslMechanism: "oauthbearer", kafkaOauthTokenFile: "/token" },
      {
        ssl: { rejectUnauthorized: true },
        sasl: { mechanism: "oauthbearer", tokenFile: "/token" },
        plaintextSasl: false,
      },
    ],
    [
      "SASL over plaintext, opted into",
      {
        kafkaSecurity: "sasl_plaintext",
        kafkaAllowPlaintextSasl: true,
        kafkaSaslMechanism: "plain",
        kafkaSaslUsername: "u",
        kafkaSaslPassword: "p",
      },
      { ssl: false, sasl: { mechanism: "plain", username: "u", password: "p" }, plaintextSasl: true },
    ],
  ];
  for (const [name, over, expected] of cases) {
    await t.step(name, () => assert.deepEqual(resolveKafkaSecurity(kafka(over), reader), expected));
  }
});

Deno.test("resolveKafkaSecurity() refuses each bad combination with one line naming the setting", async (t) => {
  const cases: [Partial<KafkaSecuritySettings>, RegExp][] = [
    [{ kafkaCaFile: "/ca.pem" }, /^--kafka-ca-file \(KAFKA_SSL_CA_FILE\) needs --kafka-security ssl or sasl_ssl/],
    [
      { kafkaSaslMechanism: "plain" },
      /^--kafka-sasl-mechanism \(KAFKA_SASL_MECHANISM\) needs --kafka-security sasl_ssl/,
    ],
    [{ kafkaSecurity: "sasl_plaintext" }, /sends the password unencrypted: use sasl_ssl, or opt in/],
    [{ kafkaSecurity: "ssl", kafkaCertFile: "/cert.pem" }, /^mutual TLS needs both --kafka-cert-file/],
    [
      { kafkaSecurity: "ssl", kafkaCaFile: "/missing.pem" },
      /^Cannot read --kafka-ca-file \(KAFKA_SSL_CA_FILE\) \/missing\.pem: no such file$/,
    ],
    [
      { kafkaSecurity: "ssl", kafkaCaFile: "/not-a-cert" },
      /^--kafka-ca-file \(KAFKA_SSL_CA_FILE\) \/not-a-cert holds no PEM certificate$/,
    ],
    [{ kafkaSecurity: "sasl_ssl" }, /needs --kafka-sasl-mechanism/],
    [
      { kafkaSecurity: "sasl_ssl", kafkaSaslMechanism: "oauthbearer" },
      /^--kafka-sasl-mechanism oauthbearer needs --kafka-oauth-token-file/,
    ],
    [
      { kafkaSecurity: "sasl_ssl", kafkaSaslMechanism: "oauthbearer", kafkaOauthTokenFile: "/empty" },
      /^--kafka-oauth-token-file \(KAFKA_OAUTH_TOKEN_FILE\) \/empty is empty$/,
    ],
    [
      { kafkaSecurity: "sasl_ssl", kafkaSaslMechanism: "plain", kafkaOauthTokenFile: "/token" },
      /needs --kafka-sasl-mechanism oauthbearer$/,
    ],
    [{ kafkaSecurity: "sasl_ssl", kafkaSaslMechanism: "plain" }, /needs --kafka-sasl-username/],
    [
      { kafkaSecurity: "sasl_ssl", kafkaSaslMechanism: "plain", kafkaSaslUsername: "u" },
      /needs KAFKA_SASL_PASSWORD or --kafka-sasl-password-file/,
    ],
    [
      {
        kafkaSecurity: "sasl_ssl",
        kafkaSaslMechanism: "plain",
        kafkaSaslUsername: "u",
        kafkaSaslPassword: "p",
        kafkaSaslPasswordFile: "/sasl-password",
      },
      /^Set KAFKA_SASL_PASSWORD or --kafka-sasl-password-file \(KAFKA_SASL_PASSWORD_FILE\), not both$/,
    ],
  ];
  for (const [over, expected] of cases) {
    await t.step(expected.source, () => {
      assert.throws(() => resolveKafkaSecurity(kafka(over), reader), oneLine(expected));
    });
  }
});

const database = (over: Partial<DatabaseSecuritySettings>): DatabaseSecuritySettings => ({
  databaseUrl: "postgres://writer@db.internal:6432/hb",
  databaseSslmode: undefined,
  databaseSslrootcert: undefined,
  databaseSslcert: undefined,
  databaseSslkey: undefined,
  databasePassword: undefined,
  databasePasswordFile: undefined,
  databasePassfile: undefined,
  ...over,
});

Deno.test("resolveDatabaseSecurity() maps each sslmode to node-postgres' TLS options and puts the password in the URL", async (t) => {
  const cases: [string, Partial<DatabaseSecuritySettings>, { url: string; ssl: unknown }][] = [
    ["disable by default", {}, { url: "postgres://writer@db.internal:6432/hb", ssl: false }],
    ["require: encrypted, not checked", { databaseSslmode: "require" }, {
      url: "postgres://writer@db.internal:6432/hb",
      ssl: { rejectUnauthorized: false },
    }],
    ["verify-full from the URL's own parameters", {
      databaseUrl: "postgres://writer@db.internal:6432/hb?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
    }, {
      url: "postgres://writer@db.internal:6432/hb?application_name=x",
      ssl: { rejectUnauthorized: true, ca: CERT },
    }],
    ["a client certificate, the password from a file", {
      databaseSslmode: "verify-full",
      databaseSslrootcert: "/ca.pem",
      databaseSslcert: "/cert.pem",
      databaseSslkey: "/key.pem",
      databasePasswordFile: "/db-password",
    }, {
      url: "postgres://writer:db-s3cret@db.internal:6432/hb",
      ssl: { rejectUnauthorized: true, ca: CERT, cert: CERT, key: KEY },
    }],
    ["the password from a .pgpass (escaped colon)", { databasePassfile: "/pgpass" }, {
      url: "postgres://writer:from%3Apgpass@db.internal:6432/hb",
      ssl: false,
    }],
  ];
  for (const [name, over, expected] of cases) {
    await t.step(name, () => {
      const got = resolveDatabaseSecurity(database(over), CONSUMER_DATABASE, reader);
      assert.equal(got.url, expected.url);
      const { checkServerIdentity: _, ...ssl } = got.ssl === false ? { checkServerIdentity: 0 } : got.ssl;
      assert.deepEqual(got.ssl === false ? false : ssl, expected.ssl);
    });
  }
  await t.step("verify-ca checks the chain but not the name", () => {
    const got = resolveDatabaseSecurity(
      database({ databaseSslmode: "verify-ca", databaseSslrootcert: "/ca.pem" }),
      CONSUMER_DATABASE,
      reader,
    );
    assert.ok(got.ssl !== false && got.ssl.rejectUnauthorized && got.ssl.checkServerIdentity?.() === undefined);
  });
});

Deno.test("resolveDatabaseSecurity() refuses each bad combination with one line naming the setting", async (t) => {
  const cases: [Partial<DatabaseSecuritySettings>, RegExp][] = [
    [{ databaseSslmode: "verify-full" }, /^sslmode verify-full needs --database-sslrootcert \(DATABASE_SSLROOTCERT\)/],
    [{ databaseUrl: "postgres://w@h/d?sslmode=prefer" }, /^DATABASE_URL has sslmode=prefer: expected disable, require/],
    [
      { databaseSslrootcert: "/ca.pem" },
      /^--database-sslrootcert \(DATABASE_SSLROOTCERT\) needs an sslmode other than disable/,
    ],
    [
      { databaseSslmode: "require", databaseSslcert: "/cert.pem" },
      /^a client certificate needs both --database-sslcert/,
    ],
    [
      { databaseUrl: "postgres://w:pw@h/d", databasePassword: "other" },
      /^DATABASE_URL has a password and DATABASE_PASSWORD/,
    ],
    [
      { databaseSslmode: "require", databaseSslrootcert: "/missing" },
      /^Cannot read --database-sslrootcert \(DATABASE_SSLROOTCERT\) \/missing: no such file$/,
    ],
  ];
  for (const [over, expected] of cases) {
    await t.step(expected.source, () => {
      assert.throws(() => resolveDatabaseSecurity(database(over), CONSUMER_DATABASE, reader), oneLine(expected));
    });
  }
});

Deno.test("pgpassLookup() follows libpq: first match wins, * matches anything, \\ escapes", () => {
  const text = "h:5432:db:u:first\n*:*:*:u:second\nh:5432:db:u:third\n";
  assert.equal(pgpassLookup(text, { host: "h", port: "5432", database: "db", user: "u" }), "first");
  assert.equal(pgpassLookup(text, { host: "x", port: "1", database: "y", user: "u" }), "second");
  assert.equal(pgpassLookup(text, { host: "x", port: "1", database: "y", user: "z" }), undefined);
  assert.equal(pgpassLookup("h:1:d:u:a\\:b\\\\c", { host: "h", port: "1", database: "d", user: "u" }), "a:b\\c");
});

Deno.test("a bad secret's error never shows its value, and --help shows no secret default", () => {
  for (const table of [producerOptions, consumerOptions]) {
    const secrets = Object.values(table).filter((o) => "secret" in o && o.secret);
    assert.ok(secrets.length >= 2, "the tables mark their secrets");
    for (const o of secrets) assert.equal("default" in o ? o.default : undefined, undefined, o.env);
  }
  // a secret whose schema refuses a value: the message hides it
  const table = { pw: { env: "PW", help: "x", secret: true, schema: consumerOptions.writers.schema } };
  assert.throws(
    () => parseConfig(table, { args: [], env: () => "hunter2" }),
    (e: Error) => e instanceof ConfigError && !e.message.includes("hunter2") && /hidden: secret/.test(e.message),
  );
});
