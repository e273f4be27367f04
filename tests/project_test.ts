/**
 * Checks that hold the project together: the README's tables match the code, permissions are
 * written the same way in deno.json tasks, script shebangs and compile tasks, and both CIs
 * (.ci/run and the GitHub workflow) run the same commands, the README's test command among them.
 */
import assert from "node:assert/strict";
import { consumerOptions, envNames, producerOptions } from "../lib/config/mod.ts";
import { REASON_CODES } from "../lib/domain/reading.ts";
import { renderReadme } from "../scripts/docs.ts";
import { parse } from "yaml";
import { checkArgs, COMPILE_TASKS } from "../scripts/compile_check.ts";
import { taskArgs } from "./support/tasks.ts";

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

Deno.test("README configuration tables are generated from lib/config.ts and up to date", async () => {
  const readme = await read("README.md");
  assert.equal(normalizeTables(renderReadme(readme)), normalizeTables(readme), "run: deno task docs");
});

Deno.test("README rule table documents every reason code", async () => {
  const readme = await read("README.md");
  for (const code of REASON_CODES) {
    assert.match(readme, new RegExp(`^\\| \`${code}\` +\\|`, "m"), `README lacks ${code}`);
  }
});

Deno.test("each entry script's shebang has exactly the permissions of its deno task", async (t) => {
  for (
    const [task, script] of [["producer", "producer.ts"], ["consumer", "consumer.ts"], [
      "db:migrate",
      "scripts/migrate.ts",
    ]]
  ) {
    await t.step(`${task} ↔ ${script}`, async () => {
      const args = await taskArgs(task!);
      assert.equal(args.at(-1), script, `task ${task} runs ${script}`);
      assert.deepEqual(permissionFlags(await shebangArgs(script!)), permissionFlags(args));
    });
  }
});

Deno.test("the tasks allow exactly the environment variables their options read, and ignore the rest", async (t) => {
  for (const [task, table] of [["producer", producerOptions], ["consumer", consumerOptions]] as const) {
    await t.step(task, async () => {
      const args = await taskArgs(task);
      const allow = args.find((a) => a.startsWith("--allow-env="));
      assert.ok(allow, `${task} has --allow-env=NAMES`);
      assert.deepEqual(allow.slice("--allow-env=".length).split(",").sort(), envNames(table));
      assert.ok(args.includes("--ignore-env"), `${task} ignores other env names`);
      assert.ok(!args.includes("--allow-env") && !args.includes("-A") && !args.includes("--allow-all"));
    });
  }
});

Deno.test("the tasks allow network access only to named host:port pairs", async (t) => {
  for (const task of ["producer", "consumer", "db:migrate"]) {
    await t.step(task, async () => {
      const args = await taskArgs(task);
      const net = args.find((a) => a.startsWith("--allow-net="));
      assert.ok(net, `${task} names its hosts`);
      for (const host of net.slice("--allow-net=".length).split(",")) assert.match(host, /^[\w.-]+:\d+$/);
      assert.ok(!args.includes("--allow-net"));
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

/** The `deno compile ...` words of a task (tests/tasks.ts reads `deno run` tasks the same way). */
async function compileWords(task: string): Promise<string[]> {
  const config = JSON.parse(await read("deno.json"));
  const command: string | undefined = config.tasks?.[task];
  assert.ok(command !== undefined, `deno.json has a ${task} task`);
  return command.trim().split(/\s+/);
}

Deno.test("deno task compile builds both binaries with exactly the permission flags of the run tasks", async (t) => {
  const config = JSON.parse(await read("deno.json"));
  assert.equal(config.tasks.compile, COMPILE_TASKS.map((task) => `deno task ${task}`).join(" && "));
  for (
    const [task, run, binary] of [["compile:producer", "producer", "heartbeat-producer"], [
      "compile:consumer",
      "consumer",
      "heartbeat-consumer",
    ]] as const
  ) {
    await t.step(`${task} ↔ ${run}`, async () => {
      const words = await compileWords(task);
      assert.deepEqual(words.slice(0, 2), ["deno", "compile"]);
      const runArgs = await taskArgs(run);
      assert.equal(words.at(-1), runArgs.at(-1), `${task} compiles the script ${run} runs`);
      assert.deepEqual(
        permissionFlags(words),
        permissionFlags(runArgs),
        `${task} must bake in the permission flags of deno task ${run}: copy them from it`,
      );
      assert.equal(words[words.indexOf("--output") + 1], `dist/${binary}`);
      // compile:check runs the same command with only the output moved
      const checked = checkArgs(words.join(" "), ".cache/compile-check");
      assert.deepEqual(permissionFlags(checked), permissionFlags(runArgs));
      assert.equal(checked[checked.indexOf("--output") + 1], `.cache/compile-check/${binary}`);
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
