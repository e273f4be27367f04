/**
 * Checks that hold the project together: the README's tables match the code, permissions are
 * written the same way in deno.json tasks and script shebangs, and CI runs the README's test
 * command.
 */
import assert from "node:assert/strict";
import { consumerOptions, envNames, producerOptions } from "../lib/config.ts";
import { REASON_CODES } from "../lib/reading.ts";
import { renderReadme } from "../scripts/docs.ts";
import { taskArgs } from "./tasks.ts";

const read = (path: string) => Deno.readTextFile(new URL(`../${path}`, import.meta.url));

/** The permission flags of an argument list (everything starting with --allow or --ignore). */
function permissionFlags(args: string[]): string[] {
  return args.filter((a) => a.startsWith("--allow-") || a.startsWith("--ignore-")).sort();
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
