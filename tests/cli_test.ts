/**
 * The entry scripts as a user meets them, run with their real `deno task` permissions: bad flags
 * and env values stop them at start with one line naming the setting, `--help` lists every
 * setting, hosts outside the allowed list are refused, and `--dry-run` is deterministic.
 * None of these need Kafka or PostgreSQL.
 */
import assert from "node:assert/strict";
import { consumerOptions, producerOptions } from "../lib/config/mod.ts";
import { taskArgs, taskWords } from "./support/tasks.ts";
import { integrationTest, testDatabase } from "./support/helpers.ts";
import { runArgs } from "../scripts/programs.ts";

/** Runs a command line from the project root with only `env`; returns its exit code and output. */
async function runWords(words: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(words[0]!, {
    args: words.slice(1),
    env: { PATH: Deno.env.get("PATH") ?? "", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
    cwd: new URL("..", import.meta.url),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** Runs a program as its `deno task` would (the derived permissions), with only `env`. */
async function run(task: string, args: string[], env: Record<string, string> = {}) {
  return await runWords([Deno.execPath(), ...await taskArgs(task, args, env), ...args], env);
}

Deno.test("a bad flag or env value stops a script at start with one line naming it", async (t) => {
  const cases: [string, string[], Record<string, string>, RegExp][] = [
    ["producer", ["--rate", "fast"], {}, /^error: Invalid --rate: expected a number, got "fast"$/],
    [
      "producer",
      ["--invalid-rate", "2"],
      {},
      /^error: Invalid --invalid-rate: expected a number from 0 to 1, got "2"$/,
    ],
    ["producer", ["--nope"], {}, /^error: Unknown option '--nope' \(see --help\)$/],
    ["producer", [], { HEARTBEAT_CUSTOMERS: "0" }, /^error: Invalid HEARTBEAT_CUSTOMERS \(environment\): .*got "0"$/],
    [
      "consumer",
      [],
      { HEARTBEAT_KAFKAJS_PATCHES: "maybe" },
      /^error: Invalid HEARTBEAT_KAFKAJS_PATCHES \(environment\): expected on or off, got "maybe"$/,
    ],
    [
      "producer",
      ["--start", "yesterday"],
      {},
      /^error: Invalid --start: expected an ISO 8601 time with timezone, or now/,
    ],
    ["consumer", ["--database-url", "mysql://x"], {}, /^error: Invalid --database-url: expected a postgres:/],
    ["consumer", [], { HEARTBEAT_CONSUMER_BATCH_SIZE: "-1" }, /^error: Invalid HEARTBEAT_CONSUMER_BATCH_SIZE/],
    ["consumer", ["--future-skew", "5 minutes"], {}, /^error: Invalid --future-skew: expected a duration/],
    ["consumer", ["--writers", "0"], {}, /^error: Invalid --writers: expected a whole number above 0, got "0"$/],
    [
      "consumer",
      [],
      { HEARTBEAT_CONSUMER_FETCH_BYTES: "10" },
      /^error: Invalid HEARTBEAT_CONSUMER_FETCH_BYTES \(environment\): expected at least 1024 bytes, got "10"$/,
    ],
  ];
  for (const [task, args, env, expected] of cases) {
    await t.step(`${task} ${args.join(" ")} ${JSON.stringify(env)}`, async () => {
      const r = await run(task, args, env);
      assert.equal(r.code, 2);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, expected);
    });
  }
});

Deno.test("--help lists every flag and env var with its default and exits 0", async (t) => {
  for (const [task, table] of [["producer", producerOptions], ["consumer", consumerOptions]] as const) {
    await t.step(task, async () => {
      const r = await run(task, ["--help"]);
      assert.equal(r.code, 0);
      for (const o of Object.values(table)) {
        const spec: { flag?: string; env: string } = o;
        if (spec.flag === undefined) assert.ok(r.stdout.includes("(environment only)"), spec.env);
        else assert.ok(r.stdout.includes(`--${spec.flag}`), `--${spec.flag}`);
        assert.ok(r.stdout.includes(`env ${o.env}`), o.env);
      }
    });
  }
});

Deno.test("a process whose permissions do not cover a configured host refuses it at start, naming the setting", async (t) => {
  // the shebang's flags (the defaults' hosts), run with other hosts configured
  const shebang = runArgs("consumer", [], () => undefined);
  const cases: [string[], RegExp][] = [
    [["--database-url", "postgres://writer@db.example.internal:5432/heartbeat"], /db\.example\.internal:5432/],
    [["--brokers", "127.0.0.1:19092"], /127\.0\.0\.1:19092/],
  ];
  for (const [args, host] of cases) {
    await t.step(args.join(" "), async () => {
      const r = await runWords([Deno.execPath(), ...shebang, ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^error: .*which this process may not reach: start it with deno task/m);
      assert.match(r.stderr, host);
    });
  }
});

integrationTest(
  "deno task producer and consumer reach any configured host without an edit: they fail only on the connection",
  async (t) => {
    await using db = await testDatabase();
    // PostgreSQL's port answers, but not in Kafka's protocol: the broker check must say so, quickly
    const cases: [string, string[], Record<string, string>][] = [
      ["producer", ["--brokers", "localhost:5432", "--count", "1", "--metrics-port", "0"], {}],
      ["consumer", ["--metrics-port", "0"], { KAFKA_BROKERS: "localhost:5432", DATABASE_URL: db.writerUrl }],
    ];
    for (const [task, args, env] of cases) {
      await t.step(`${task} ${[...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...args].join(" ")}`, async () => {
        const words = (await taskWords(task)).map((w) => w === "deno" ? Deno.execPath() : w);
        const started = performance.now();
        const r = await runWords([...words, ...args], env);
        assert.notEqual(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /may not reach|NotCapable|Requires net access/, "past the permission check");
        assert.ok(performance.now() - started < 30_000, "fails within 30 s");
        assert.match(r.stderr, /^error: Kafka broker localhost:5432 over plaintext: /m);
      });
    }
  },
);

Deno.test("producer --dry-run prints the same NDJSON for the same seed and start, and other NDJSON for another seed", async () => {
  const args = [
    "--dry-run",
    "--count",
    "500",
    "--start",
    "2026-01-01T00:00:00Z",
    "--invalid-rate",
    "0.1",
    "--anomaly-rate",
    "0.05",
  ];
  const a = await run("producer", [...args, "--seed", "7"]);
  const b = await run("producer", [...args, "--seed", "7"]);
  const c = await run("producer", [...args, "--seed", "8"]);
  assert.equal(a.code, 0, a.stderr);
  const lines = a.stdout.trim().split("\n").map((l) => JSON.parse(l));
  const messages = lines.filter((l) => l.episode === undefined);
  assert.equal(messages.length, 500);
  for (const m of messages) {
    assert.ok(typeof m.key === "string" && (typeof m.value === "string" || typeof m.value_base64 === "string"));
    assert.equal(typeof m.truth.valid, "boolean");
  }
  // the injected episodes' ground truth comes along
  for (const { episode } of lines.filter((l) => l.episode !== undefined)) {
    assert.match(episode.kind, /^(bradycardia|tachycardia)$/);
    assert.ok(Date.parse(episode.end) >= Date.parse(episode.start));
  }
  assert.equal(b.stdout, a.stdout);
  assert.notEqual(c.stdout, a.stdout);
});
