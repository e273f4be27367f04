/**
 * Checks that hold the project together: the README's tables match the code, the permissions of
 * the launcher tasks, the shebangs and the compiled binaries all come from one derivation
 * (scripts/programs.ts), both CIs (.ci/run and the GitHub workflow) run the same commands,
 * the README's test command among them, and docker-compose's sql/initdb.sql is the migrations'
 * current bundle.
 */
import assert from "node:assert/strict";
import { envNames } from "../lib/config/mod.ts";
import { REASON_CODES } from "../lib/domain/reading.ts";
import { renderTables, TABLES } from "../scripts/docs.ts";
import { parse } from "yaml";
import { BINARIES, compileArgs } from "../scripts/compile.ts";
import { PROGRAMS, runArgs, runFlags } from "../scripts/programs.ts";
import { compileTasks, devTasks, launcherTask, shebang } from "../scripts/sync_permissions.ts";
import { taskWords } from "./support/tasks.ts";
import { BUNDLE, currentBundle } from "../scripts/bundle_migrations.ts";

const read = (path: string) => Deno.readTextFile(new URL(`../${path}`, import.meta.url));

/**
 * The permission flags of an argument list (everything starting with --allow or --ignore), and
 * the V8 flags (the consumer's memory settings must hold for the binary too).
 */
function permissionFlags(args: string[]): string[] {
  return args.filter((a) => a.startsWith("--allow-") || a.startsWith("--ignore-") || a.startsWith("--v8-flags"))
    .sort();
}

async function shebangArgs(path: string): Promise<string[]> {
  const first = (await read(path)).split("\n")[0]!;
  assert.match(first, /^#!\/usr\/bin\/env -S deno run /, `${path} has a deno shebang`);
  return first.replace(/^#!\/usr\/bin\/env -S deno run /, "").split(/\s+/);
}

/** Table rows without the padding `deno fmt` adds, so generated and formatted tables compare. */
function normalizeTables(markdown: string): string {
  return markdown.split("\n").map((line) =>
    line.startsWith("|") ? line.replace(/\s*\|\s*/g, "|").replace(/-{3,}/g, "---") : line
  ).join("\n");
}

Deno.test("the configuration tables of the README and docs/operations.md are generated from lib/config/ and up to date", async (t) => {
  for (const file of Object.keys(TABLES)) {
    await t.step(file, async () => {
      const text = await read(file);
      assert.equal(normalizeTables(renderTables(file, text)), normalizeTables(text), "run: deno task docs");
    });
  }
});

Deno.test("sql/initdb.sql, which docker-compose runs, is what deno task db:bundle makes of sql/migrations/", async () => {
  assert.equal(await Deno.readTextFile(BUNDLE), await currentBundle(), "run: deno task db:bundle");
});

Deno.test("sql/migrations/001_baseline.sql is the sql/schema.sql of before the migrations, byte for byte", async () => {
  // databases made by that schema.sql are adopted as version 1 without running it: an edit would
  // be recorded as applied on databases that never ran it, and refused by those that did
  const bytes = await Deno.readFile(new URL("../sql/migrations/001_baseline.sql", import.meta.url));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(hex, "a8acf4579429039fe793f4922cf14d9fea636539b15a00931d803a77904262e9");
});

Deno.test("README rule table documents every reason code", async () => {
  const readme = await read("README.md");
  for (const code of REASON_CODES) {
    assert.match(readme, new RegExp(`^\\| \`${code}\` +\\|`, "m"), `README lacks ${code}`);
  }
});

const none = () => undefined;

Deno.test("each entry script's shebang has the permissions its default configuration derives", async (t) => {
  for (const [task, program] of Object.entries(PROGRAMS)) {
    await t.step(`${task} ↔ ${program.script}`, async () => {
      assert.deepEqual(
        permissionFlags(await shebangArgs(program.script)),
        permissionFlags(runFlags(task as never, [], none)),
      );
    });
  }
});

Deno.test("the tasks run the launcher with only the program's env names and deno: no host, file or other name", async (t) => {
  for (const [task, program] of Object.entries(PROGRAMS)) {
    await t.step(task, async () => {
      const words = await taskWords(task);
      assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
      assert.deepEqual(words.slice(-2), ["scripts/launch.ts", task], `task ${task} runs the launcher for ${task}`);
      assert.deepEqual(
        permissionFlags(words),
        [
          `--allow-env=${envNames(program.table).join(",")}`,
          "--allow-run=deno",
          "--ignore-env",
        ].sort(),
      );
    });
  }
});

Deno.test("the derived permissions allow exactly the configured hosts and files, and the env names the options read", async (t) => {
  const cases: [string, string[], Record<string, string>, string[], string[]][] = [
    ["consumer", [], {}, ["127.0.0.1:5432", "127.0.0.1:9092", "127.0.0.1:9464"], []],
    [
      "consumer",
      ["--metrics-port", "0", "--kafka-security", "ssl", "--kafka-ca-file", "/etc/hb/ca.pem"],
      {
        KAFKA_BROKERS: "b-1.kafka.internal:9094,b-2.kafka.internal:9094",
        DATABASE_URL: "postgres://w@db.internal:6432/hb?sslmode=verify-full&sslrootcert=/etc/hb/db-ca.pem",
        DATABASE_PASSWORD_FILE: "/run/secrets/db",
      },
      ["b-1.kafka.internal:9094", "b-2.kafka.internal:9094", "db.internal:6432"],
      ["/etc/hb/ca.pem", "/etc/hb/db-ca.pem", "/run/secrets/db"],
    ],
    ["producer", ["--metrics-host", "::1"], { KAFKA_BROKERS: "[::1]:9092" }, ["[::1]:9092", "[::1]:9465"], []],
    ["db:migrate", [], { DATABASE_ADMIN_SSLROOTCERT: "ca.pem", DATABASE_ADMIN_SSLMODE: "verify-ca" }, [
      "127.0.0.1:5432",
    ], ["ca.pem", "sql"]],
  ];
  for (const [task, args, env, net, read] of cases) {
    await t.step(`${task} ${args.join(" ")} ${JSON.stringify(env)}`, () => {
      const flags = runFlags(task as never, args, (n) => env[n]);
      assert.deepEqual(flags.find((f) => f.startsWith("--allow-net="))?.slice(12).split(",").sort(), [...net].sort());
      const allowRead = flags.find((f) => f.startsWith("--allow-read="));
      assert.deepEqual(allowRead?.slice(13).split(",").sort() ?? [], [...read].sort());
      const program = PROGRAMS[task as keyof typeof PROGRAMS];
      assert.equal(flags.find((f) => f.startsWith("--allow-env=")), `--allow-env=${envNames(program.table).join(",")}`);
      assert.ok(flags.includes("--ignore-env"));
      assert.ok(!flags.some((f) => ["--allow-all", "-A", "--allow-net", "--allow-read", "--allow-env"].includes(f)));
    });
  }
});

Deno.test("CI runs the README's test command with CI=true", async () => {
  const readme = await read("README.md");
  const ci = await read(".ci/run");
  const command = /## Test it\s+```sh\n([^\n]+)\n```/.exec(readme)?.[1];
  assert.equal(command, "deno task test");
  assert.ok(ci.split("\n").some((l) => l.trim() === command), ".ci/run runs the README's test command");
  assert.match(ci, /export CI=true/);
});

Deno.test("deno.json's launcher, compile and dev tasks and the shebangs are what scripts/sync_permissions.ts writes", async () => {
  const config = JSON.parse(await read("deno.json"));
  for (const name of Object.keys(PROGRAMS) as (keyof typeof PROGRAMS)[]) {
    assert.equal(config.tasks[name], launcherTask(name), "run: deno task permissions");
    assert.equal((await read(PROGRAMS[name].script)).split("\n")[0], shebang(name), "run: deno task permissions");
  }
  for (const [task, command] of Object.entries({ ...compileTasks(), ...devTasks() })) {
    assert.equal(config.tasks[task], command, "run: deno task permissions");
  }
});

Deno.test("deno task compile bakes in the permissions the build's configuration derives, as the launcher would run", async (t) => {
  for (const name of Object.keys(BINARIES) as (keyof typeof BINARIES)[]) {
    await t.step(name, () => {
      const env: Record<string, string> = { KAFKA_BROKERS: "kafka.prod.internal:9093", KAFKA_SECURITY_PROTOCOL: "ssl" };
      const words = compileArgs(name, (n) => env[n]);
      assert.equal(words[0], "compile");
      assert.equal(words.at(-1), PROGRAMS[name].script);
      assert.equal(words[words.indexOf("--output") + 1], `dist/${BINARIES[name]}`);
      assert.deepEqual(permissionFlags(words), permissionFlags(runArgs(name, [], (n) => env[n])));
      assert.ok(words.some((w) => w.startsWith("--allow-net=") && w.includes("kafka.prod.internal:9093")));
      assert.equal(compileArgs(name, none, ".cache/compile-check").at(-2), `.cache/compile-check/${BINARIES[name]}`);
    });
  }
});

interface WorkflowStep {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}

interface WorkflowJob {
  env?: Record<string, unknown>;
  services?: Record<string, { image: string; ports?: string[]; env?: Record<string, unknown> }>;
  steps: WorkflowStep[];
}

/** The commands of a shell script or a `run:` block, one per line, without blanks and comments. */
function commands(script: string): string[] {
  return script.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
}

Deno.test("the GitHub workflow runs .ci/run's deno commands and the README's test command against Kafka and PostgreSQL", async () => {
  const workflow = parse(await read(".github/workflows/ci.yml")) as { jobs: Record<string, WorkflowJob> };
  const jobs = Object.values(workflow.jobs);
  const job = jobs.find((j) => j.steps.some((s) => commands(s.run ?? "").includes("deno task test")));
  assert.ok(job, "a job runs deno task test");
  const runs = job.steps.flatMap((s) => commands(s.run ?? ""));

  const readme = await read("README.md");
  const testCommand = /## Test it\s+```sh\n([^\n]+)\n```/.exec(readme)?.[1];
  assert.equal(testCommand, "deno task test");
  assert.ok(runs.includes(testCommand), "ci.yml runs the README's test command");
  const gate = commands(await read(".ci/run")).filter((l) => /^deno (fmt|lint|task)\b/.test(l));
  assert.ok(gate.length >= 4, `.ci/run's deno commands: ${gate.join("; ")}`);
  for (const command of gate) assert.ok(runs.includes(command), `ci.yml runs \`${command}\` as .ci/run does`);
  // the same order as .ci/run
  assert.deepEqual(runs.filter((r) => gate.includes(r)), gate);

  assert.equal(String(job.env?.CI), "true", "CI=true: a missing service fails the tests");
  assert.ok(job.steps.some((s) => s.uses === "denoland/setup-deno@v2"), "Deno's official setup action, v2");
  const frozen = runs.findIndex((r) => /^deno install --frozen\b/.test(r));
  assert.ok(frozen >= 0 && frozen < runs.indexOf(gate[0]!), "the lockfile is checked frozen before anything runs");

  const kafkaVersion = /^KAFKA_VERSION="\$\{KAFKA_VERSION:-([^}]+)\}"$/m.exec(await read("scripts/kafka.sh"))?.[1];
  const services = Object.values(job.services ?? {});
  const kafka = services.find((s) => s.image.startsWith("apache/kafka:"));
  assert.equal(kafka?.image, `apache/kafka:${kafkaVersion}`, "the Kafka scripts/kafka.sh runs");
  assert.deepEqual(kafka.ports, ["9092:9092"]);
  assert.equal(kafka.env?.KAFKA_ADVERTISED_LISTENERS, "PLAINTEXT://127.0.0.1:9092");
  assert.match(String(kafka.env?.KAFKA_PROCESS_ROLES), /^broker,controller$/, "KRaft, no ZooKeeper");
  const postgres = services.find((s) => s.image.startsWith("postgres:"));
  assert.equal(postgres?.image, "postgres:15");
  assert.deepEqual(postgres.ports, ["5432:5432"]);
});
