import assert from "node:assert/strict";
import {
  ConfigError,
  consumerOptions,
  envNames,
  helpText,
  markdownTable,
  type OptionTable,
  parse,
  parseConfig,
  producerOptions,
} from "./mod.ts";

/** An env lookup over a fixed record, so no test reads the real environment. */
function envOf(vars: Record<string, string> = {}): (name: string) => string | undefined {
  return (name) => vars[name];
}

function producer(args: string[] = [], env: Record<string, string> = {}) {
  const result = parseConfig(producerOptions, { args, env: envOf(env) });
  if (result.help) assert.fail("unexpected help");
  return result.config;
}

function consumer(args: string[] = [], env: Record<string, string> = {}) {
  const result = parseConfig(consumerOptions, { args, env: envOf(env) });
  if (result.help) assert.fail("unexpected help");
  return result.config;
}

/** Runs `f`, expecting a ConfigError with a one-line message, and returns the message. */
function configError(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    assert.equal(error.name, "ConfigError");
    assert.doesNotMatch(error.message, /\n/);
    return error.message;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("parseConfig() gives every producer option its default", async (t) => {
  const before = Date.now();
  const config = producer();
  const after = Date.now();
  const expected: Record<string, unknown> = {
    brokers: ["127.0.0.1:9092"],
    topic: "heartbeat-readings",
    partitions: 6,
    logLevel: "info",
    customers: 10,
    rate: 10,
    count: undefined,
    duration: undefined,
    seed: 1,
    anomalyRate: 0.002,
    invalidRate: 0.01,
    batchSize: 5000,
    lingerMs: 20,
    compression: "zstd",
    dryRun: false,
    timeZones: [0],
    dropoutRate: 0,
    artefactRate: 0,
    lateRate: 0,
    duplicateRate: 0,
    clockSkew: 0,
  };
  for (const [name, value] of Object.entries(expected)) {
    await t.step(`${name} defaults to ${JSON.stringify(value)}`, () => {
      assert.deepEqual((config as Record<string, unknown>)[name], value);
    });
  }
  await t.step("start defaults to now", () => {
    assert.ok(config.start >= before && config.start <= after);
  });
});

Deno.test("parseConfig() gives every consumer option its default", async (t) => {
  const config = consumer();
  const expected: Record<string, unknown> = {
    brokers: ["127.0.0.1:9092"],
    topic: "heartbeat-readings",
    partitions: 6,
    logLevel: "info",
    databaseUrl: consumerOptions.databaseUrl.default,
    group: "heartbeat-consumer",
    batchSize: 5000,
    batchWaitMs: 5,
    writers: 2,
    maxMessageBytes: 16384,
    futureSkew: 300_000,
    fromBeginning: true,
    sessionTimeout: 30_000,
    failpoint: 0,
  };
  for (const [name, value] of Object.entries(expected)) {
    await t.step(`${name} defaults to ${JSON.stringify(value)}`, () => {
      assert.deepEqual((config as Record<string, unknown>)[name], value);
    });
  }
});

Deno.test("every default in the option tables passes its own schema", async (t) => {
  for (const [name, table] of [["producer", producerOptions], ["consumer", consumerOptions]] as const) {
    for (const [key, o] of Object.entries(table as OptionTable)) {
      await t.step(`${name} ${key} (${o.default ?? "no default"})`, () => {
        const result = o.schema.safeParse(o.default);
        assert.ok(result.success, JSON.stringify(result.error?.issues));
        if (o.default === undefined) assert.equal(result.data, undefined);
      });
    }
  }
});

Deno.test("parseConfig() reads each producer option from its flag and from its env var", async (t) => {
  const rows: { name: string; flag: string; raw: string; value: unknown }[] = [
    { name: "brokers", flag: "brokers", raw: "k1:9092,k2:9093", value: ["k1:9092", "k2:9093"] },
    { name: "topic", flag: "topic", raw: "beats.v2", value: "beats.v2" },
    { name: "partitions", flag: "partitions", raw: "12", value: 12 },
    { name: "logLevel", flag: "log-level", raw: "debug", value: "debug" },
    { name: "customers", flag: "customers", raw: "250", value: 250 },
    { name: "rate", flag: "rate", raw: "2.5", value: 2.5 },
    { name: "count", flag: "count", raw: "1000", value: 1000 },
    { name: "duration", flag: "duration", raw: "5m", value: 300_000 },
    { name: "seed", flag: "seed", raw: "0", value: 0 },
    { name: "start", flag: "start", raw: "2026-01-01T00:00:00Z", value: Date.UTC(2026, 0, 1) },
    { name: "anomalyRate", flag: "anomaly-rate", raw: "0.5", value: 0.5 },
    { name: "invalidRate", flag: "invalid-rate", raw: "0", value: 0 },
    { name: "batchSize", flag: "batch-size", raw: "10", value: 10 },
    { name: "lingerMs", flag: "linger-ms", raw: "0", value: 0 },
    { name: "compression", flag: "compression", raw: "none", value: "none" },
    { name: "compression", flag: "compression", raw: "gzip", value: "gzip" },
    { name: "timeZones", flag: "time-zones", raw: "+01:00,-05:00,+05:30", value: [60, -300, 330] },
    { name: "dropoutRate", flag: "dropout-rate", raw: "0.002", value: 0.002 },
    { name: "artefactRate", flag: "artefact-rate", raw: "0.005", value: 0.005 },
    { name: "lateRate", flag: "late-rate", raw: "0.002", value: 0.002 },
    { name: "duplicateRate", flag: "duplicate-rate", raw: "0.01", value: 0.01 },
    { name: "clockSkew", flag: "clock-skew", raw: "2m", value: 120_000 },
  ];
  for (const { name, flag, raw, value } of rows) {
    const env = producerOptions[name as keyof typeof producerOptions].env;
    await t.step(`--${flag} ${raw}`, () => {
      assert.deepEqual((producer([`--${flag}`, raw]) as Record<string, unknown>)[name], value);
      assert.deepEqual((producer([`--${flag}=${raw}`]) as Record<string, unknown>)[name], value);
    });
    await t.step(`${env}=${raw}`, () => {
      assert.deepEqual((producer([], { [env]: raw }) as Record<string, unknown>)[name], value);
    });
  }
});

Deno.test("parseConfig() reads each consumer-only option from its flag and from its env var", async (t) => {
  const rows: { name: string; flag: string; raw: string; value: unknown }[] = [
    {
      name: "databaseUrl",
      flag: "database-url",
      raw: "postgresql://u:p@db:5433/hb",
      value: "postgresql://u:p@db:5433/hb",
    },
    { name: "group", flag: "group", raw: "g2", value: "g2" },
    { name: "batchSize", flag: "batch-size", raw: "100", value: 100 },
    { name: "batchWaitMs", flag: "batch-wait-ms", raw: "0", value: 0 },
    { name: "maxMessageBytes", flag: "max-message-bytes", raw: "1024", value: 1024 },
    { name: "futureSkew", flag: "future-skew", raw: "30s", value: 30_000 },
    { name: "sessionTimeout", flag: "session-timeout", raw: "1m", value: 60_000 },
    { name: "failpoint", flag: "failpoint", raw: "pause-after-db-commit:250", value: 250 },
  ];
  for (const { name, flag, raw, value } of rows) {
    const env = consumerOptions[name as keyof typeof consumerOptions].env;
    await t.step(`--${flag} ${raw}`, () => {
      assert.deepEqual((consumer([`--${flag}`, raw]) as Record<string, unknown>)[name], value);
    });
    await t.step(`${env}=${raw}`, () => {
      assert.deepEqual((consumer([], { [env]: raw }) as Record<string, unknown>)[name], value);
    });
  }
});

Deno.test("parseConfig() lets a flag win over the env var, and the env var win over the default", () => {
  assert.equal(producer(["--rate", "50"], { HEARTBEAT_RATE: "20" }).rate, 50);
  assert.equal(producer([], { HEARTBEAT_RATE: "20" }).rate, 20);
  assert.equal(producer().rate, 10);
  // a bad env value does not matter when the flag is given
  assert.equal(producer(["--rate", "50"], { HEARTBEAT_RATE: "fast" }).rate, 50);
});

Deno.test("parseConfig() treats an empty env var as unset", () => {
  assert.equal(producer([], { HEARTBEAT_RATE: "" }).rate, 10);
  assert.equal(producer([], { HEARTBEAT_COUNT: "" }).count, undefined);
});

Deno.test("parseConfig() reads boolean switches from the flag alone or from env words", async (t) => {
  const rows: { args: string[]; env: Record<string, string>; value: boolean }[] = [
    { args: ["--dry-run"], env: {}, value: true },
    { args: [], env: { HEARTBEAT_DRY_RUN: "true" }, value: true },
    { args: [], env: { HEARTBEAT_DRY_RUN: "1" }, value: true },
    { args: [], env: { HEARTBEAT_DRY_RUN: "YES" }, value: true },
    { args: [], env: { HEARTBEAT_DRY_RUN: "false" }, value: false },
    { args: [], env: { HEARTBEAT_DRY_RUN: "0" }, value: false },
    { args: [], env: { HEARTBEAT_DRY_RUN: "no" }, value: false },
    { args: ["--dry-run"], env: { HEARTBEAT_DRY_RUN: "false" }, value: true },
  ];
  for (const { args, env, value } of rows) {
    await t.step(`${args.join(" ")} ${JSON.stringify(env)} is ${value}`, () => {
      assert.equal(producer(args, env).dryRun, value);
    });
  }
  await t.step("HEARTBEAT_FROM_BEGINNING=false turns the consumer's default off", () => {
    assert.equal(consumer([], { HEARTBEAT_FROM_BEGINNING: "false" }).fromBeginning, false);
  });
});

Deno.test("parseConfig() names the flag and the bad value when a flag is bad", async (t) => {
  const rows: { args: string[]; message: string }[] = [
    { args: ["--rate", "fast"], message: 'Invalid --rate: expected a number, got "fast"' },
    { args: ["--rate", "0"], message: 'Invalid --rate: expected a number above 0, got "0"' },
    { args: ["--rate=-1"], message: 'Invalid --rate: expected a number, got "-1"' },
    { args: ["--customers", "0"], message: 'Invalid --customers: expected a whole number above 0, got "0"' },
    { args: ["--customers", "1.5"], message: 'Invalid --customers: expected a whole number, got "1.5"' },
    {
      args: ["--customers", "1000000"],
      message: 'Invalid --customers: expected at most 999999 customers, got "1000000"',
    },
    { args: ["--count", "ten"], message: 'Invalid --count: expected a whole number, got "ten"' },
    { args: ["--seed=-1"], message: 'Invalid --seed: expected a whole number, got "-1"' },
    {
      args: ["--log-level", "verbose"],
      message: 'Invalid --log-level: expected debug, info, warn or error, got "verbose"',
    },
    { args: ["--compression", "lz4"], message: 'Invalid --compression: expected zstd, gzip or none, got "lz4"' },
    {
      args: ["--topic", "my topic"],
      message: 'Invalid --topic: expected a Kafka topic name (letters, digits, . _ -), got "my topic"',
    },
    { args: ["--rate", ""], message: 'Invalid --rate: expected a number, got ""' },
    {
      args: ["--time-zones", "+01:00,CET"],
      message:
        'Invalid --time-zones: expected UTC offsets like +00:00,-05:00 (from -12:00 to +14:00), got "+01:00,CET"',
    },
    {
      args: ["--clock-skew", "10m"],
      message: `Invalid --clock-skew: expected at most 4m (the consumer's --future-skew is 5m), got "10m"`,
    },
    { args: ["--late-rate", "2"], message: 'Invalid --late-rate: expected a number from 0 to 1, got "2"' },
  ];
  for (const { args, message } of rows) {
    await t.step(args.join(" "), () => {
      assert.equal(configError(() => producer(args)), message);
    });
  }
});

Deno.test("parseConfig() names the env var and the bad value when an env var is bad", async (t) => {
  const rows: { env: Record<string, string>; message: string }[] = [
    { env: { HEARTBEAT_RATE: "fast" }, message: 'Invalid HEARTBEAT_RATE (environment): expected a number, got "fast"' },
    {
      env: { KAFKA_BROKERS: "kafka" },
      message: 'Invalid KAFKA_BROKERS (environment): expected host:port, got "kafka"',
    },
    {
      env: { HEARTBEAT_INVALID_RATE: "2" },
      message: 'Invalid HEARTBEAT_INVALID_RATE (environment): expected a number from 0 to 1, got "2"',
    },
    {
      env: { HEARTBEAT_DRY_RUN: "maybe" },
      message: 'Invalid HEARTBEAT_DRY_RUN (environment): expected true or false, got "maybe"',
    },
    {
      env: { HEARTBEAT_START: "2026-01-01T00:00:00" },
      message:
        'Invalid HEARTBEAT_START (environment): expected an ISO 8601 time with timezone, or now, got "2026-01-01T00:00:00"',
    },
  ];
  for (const { env, message } of rows) {
    await t.step(JSON.stringify(env), () => {
      assert.equal(configError(() => producer([], env)), message);
    });
  }
  await t.step("a consumer flag outside its range", () => {
    assert.equal(
      configError(() => consumer(["--session-timeout", "5s"])),
      'Invalid --session-timeout: expected at least 6s, got "5s"',
    );
  });
  await t.step("a consumer env var", () => {
    assert.equal(
      configError(() => consumer([], { DATABASE_URL: "mysql://db/hb" })),
      'Invalid DATABASE_URL (environment): expected a postgres://user@host:port/database URL, got "mysql://db/hb"',
    );
  });
});

Deno.test("parseConfig() refuses an unknown flag, naming it", () => {
  const message = configError(() => producer(["--nope", "1"]));
  assert.match(message, /--nope/);
  assert.match(message, /see --help/);
  assert.doesNotMatch(message, /To specify/);
});

Deno.test("parseConfig() refuses a flag without its argument, naming it", () => {
  const message = configError(() => producer(["--rate"]));
  assert.match(message, /--rate/);
  assert.match(message, /see --help/);
});

Deno.test("parseConfig() refuses a flag whose separate argument looks like a flag, naming it", () => {
  assert.match(configError(() => producer(["--rate", "-1"])), /--rate/);
});

Deno.test("parseConfig() refuses positional arguments", () => {
  assert.match(configError(() => producer(["extra"])), /extra/);
});

Deno.test("parseConfig() keeps the parser's error as the ConfigError's cause", () => {
  try {
    producer(["--nope"]);
    assert.fail("expected a ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.ok(error.cause instanceof Error);
  }
});

Deno.test("parseConfig() returns { help: true } for --help and -h, even with bad values", async (t) => {
  for (const args of [["--help"], ["-h"], ["--rate", "5", "--help"]]) {
    await t.step(args.join(" "), () => {
      assert.deepEqual(parseConfig(producerOptions, { args, env: envOf({ HEARTBEAT_RATE: "fast" }) }), {
        help: true,
      });
    });
  }
});

Deno.test("parse.duration reads ms, s, m and h into milliseconds", async (t) => {
  const rows: { raw: string; ms: number | null }[] = [
    { raw: "500ms", ms: 500 },
    { raw: "0ms", ms: 0 },
    { raw: "30s", ms: 30_000 },
    { raw: "1.5s", ms: 1_500 },
    { raw: "5m", ms: 300_000 },
    { raw: "1h", ms: 3_600_000 },
    { raw: " 30s ", ms: 30_000 },
    { raw: "5x", ms: null },
    { raw: "5", ms: null },
    { raw: "s", ms: null },
    { raw: "-5s", ms: null },
    { raw: "5 s", ms: null },
    { raw: "", ms: null },
  ];
  for (const { raw, ms } of rows) {
    await t.step(`${JSON.stringify(raw)} is ${ms ?? "refused"}`, () => {
      const result = parse.duration.safeParse(raw);
      if (ms === null) assert.equal(result.success, false);
      else assert.deepEqual(result, { success: true, data: ms });
    });
  }
  await t.step("a bad duration names the flag and the value", () => {
    assert.equal(
      configError(() => consumer(["--future-skew", "5x"])),
      'Invalid --future-skew: expected a duration like 500ms, 30s, 5m or 1h, got "5x"',
    );
  });
});

Deno.test("parse.brokers reads a comma-separated list of host:port", async (t) => {
  const rows: { raw: string; brokers: string[] | null }[] = [
    { raw: "127.0.0.1:9092", brokers: ["127.0.0.1:9092"] },
    { raw: "k1:9092,k2:9093", brokers: ["k1:9092", "k2:9093"] },
    { raw: " k1:9092 , ,k2:9093, ", brokers: ["k1:9092", "k2:9093"] },
    { raw: "kafka-0.kafka.svc_x:19092", brokers: ["kafka-0.kafka.svc_x:19092"] },
    { raw: "[::1]:9092", brokers: ["[::1]:9092"] },
    { raw: "kafka", brokers: null },
    { raw: "kafka:", brokers: null },
    { raw: "kafka:123456", brokers: null },
    { raw: "k1:9092,bad", brokers: null },
    { raw: "http://k1:9092", brokers: null },
    { raw: "", brokers: null },
    { raw: " , ", brokers: null },
  ];
  for (const { raw, brokers } of rows) {
    await t.step(`${JSON.stringify(raw)} is ${brokers === null ? "refused" : JSON.stringify(brokers)}`, () => {
      const result = parse.brokers.safeParse(raw);
      if (brokers === null) assert.equal(result.success, false);
      else assert.deepEqual(result, { success: true, data: brokers });
    });
  }
  await t.step("an empty list names the flag", () => {
    assert.equal(
      configError(() => producer(["--brokers", ","])),
      'Invalid --brokers: expected at least one host:port, got ","',
    );
  });
});

Deno.test("parse.databaseUrl accepts only postgres:// and postgresql:// URLs with a host", async (t) => {
  const rows: { raw: string; ok: boolean }[] = [
    { raw: "postgres://postgres@127.0.0.1:5432/heartbeat", ok: true },
    { raw: "postgresql://u:p@db.internal/hb?sslmode=require", ok: true },
    { raw: "postgres://db", ok: true },
    { raw: "mysql://u@db/hb", ok: false },
    { raw: "http://db/hb", ok: false },
    { raw: "postgres:///hb", ok: false },
    { raw: "db:5432/hb", ok: false },
    { raw: "not a url", ok: false },
    { raw: "", ok: false },
  ];
  for (const { raw, ok } of rows) {
    await t.step(`${JSON.stringify(raw)} is ${ok ? "accepted" : "refused"}`, () => {
      assert.equal(parse.databaseUrl.safeParse(raw).success, ok);
    });
  }
});

Deno.test("parse.fraction accepts numbers from 0 to 1 inclusive", async (t) => {
  const rows: { raw: string; value: number | null }[] = [
    { raw: "0", value: 0 },
    { raw: "0.01", value: 0.01 },
    { raw: "1", value: 1 },
    { raw: "1.0", value: 1 },
    { raw: "1.01", value: null },
    { raw: "2", value: null },
    { raw: "-0.1", value: null },
    { raw: "1e-3", value: null },
    { raw: "half", value: null },
  ];
  for (const { raw, value } of rows) {
    await t.step(`${raw} is ${value ?? "refused"}`, () => {
      const result = parse.fraction.safeParse(raw);
      if (value === null) assert.equal(result.success, false);
      else assert.deepEqual(result, { success: true, data: value });
    });
  }
});

Deno.test("parse.time reads an ISO 8601 time with a zone, or now", async (t) => {
  const rows: { raw: string; ms: number | null }[] = [
    { raw: "2026-01-01T00:00:00Z", ms: Date.UTC(2026, 0, 1) },
    { raw: "2026-01-01T01:00:00+01:00", ms: Date.UTC(2026, 0, 1) },
    { raw: "2026-01-01T01:00:00+0100", ms: Date.UTC(2026, 0, 1) },
    { raw: "2026-01-01T00:00:00", ms: null },
    { raw: "2026-01-01", ms: null },
    { raw: "yesterday", ms: null },
    { raw: "2026-13-01T00:00:00Z", ms: null },
  ];
  for (const { raw, ms } of rows) {
    await t.step(`${raw} is ${ms ?? "refused"}`, () => {
      const result = parse.time.safeParse(raw);
      if (ms === null) assert.equal(result.success, false);
      else assert.deepEqual(result, { success: true, data: ms });
    });
  }
});

Deno.test("parse.port accepts 0 to 65535", () => {
  assert.deepEqual(parse.port.safeParse("0"), { success: true, data: 0 });
  assert.deepEqual(parse.port.safeParse("65535"), { success: true, data: 65535 });
  assert.equal(parse.port.safeParse("65536").success, false);
  assert.equal(parse.port.safeParse("http").success, false);
});

Deno.test("envNames() returns the env names of an option table, sorted", async (t) => {
  for (const [name, table] of [["producer", producerOptions], ["consumer", consumerOptions]] as const) {
    await t.step(name, () => {
      const names = envNames(table);
      const declared = Object.values(table as OptionTable).map((o) => o.env);
      assert.equal(names.length, declared.length);
      assert.deepEqual(new Set(names), new Set(declared));
      for (let i = 1; i < names.length; i++) assert.ok(names[i - 1]! < names[i]!, `${names[i - 1]} before ${names[i]}`);
    });
  }
  await t.step("the producer's list starts and ends as the alphabet says", () => {
    const names = envNames(producerOptions);
    assert.equal(names[0], "HEARTBEAT_ANOMALY_RATE");
    assert.equal(names.at(-1), "LOG_LEVEL");
    assert.ok(names.indexOf("HEARTBEAT_RATE") < names.indexOf("KAFKA_BROKERS"));
  });
});

Deno.test("parseConfig() reads only the env names envNames() lists", () => {
  for (const table of [producerOptions, consumerOptions] as OptionTable[]) {
    const read = new Set<string>();
    parseConfig(table, { args: [], env: (name) => (read.add(name), undefined) });
    assert.deepEqual([...read].sort(), envNames(table));
  }
});

Deno.test("helpText() mentions the usage, every flag, every env var and every default", async (t) => {
  for (const [name, table] of [["producer", producerOptions], ["consumer", consumerOptions]] as const) {
    await t.step(name, () => {
      const text = helpText(`Usage: ${name}.ts [options]`, table);
      assert.ok(text.startsWith(`Usage: ${name}.ts [options]\n`));
      for (const o of Object.values(table as OptionTable)) {
        if (o.flag === undefined) assert.ok(text.includes("(environment only)"), o.env);
        else assert.ok(text.includes(`--${o.flag}`), `--${o.flag}`);
        assert.ok(text.includes(`env ${o.env}`), o.env);
        assert.ok(text.includes(o.help), o.help);
        if (o.default !== undefined) assert.ok(text.includes(`(default: ${o.default})`), o.default);
      }
      assert.match(text, /--help, -h/);
    });
  }
  await t.step("switches take no <value>, other flags do", () => {
    const text = helpText("u", producerOptions);
    assert.match(text, /--dry-run(?! <value>)/);
    assert.match(text, /--rate <value>/);
  });
});

Deno.test("markdownTable() has one row per option after the header", () => {
  const lines = markdownTable(consumerOptions).split("\n");
  assert.equal(lines.length, 2 + Object.keys(consumerOptions).length);
  assert.ok(lines.some((l) => l.startsWith("| `--database-url` | `DATABASE_URL` |")));
});
