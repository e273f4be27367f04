/**
 * The alert rules of prometheus/rules/ with Prometheus' own tool: `promtool check rules` accepts
 * them, and `promtool test rules` runs the unit tests of prometheus/tests/ (input series, which
 * alerts fire when, with their labels and annotations). Beside that: every alert is shown firing
 * and staying quiet by those tests, carries a severity, a summary and a runbook link, and its
 * runbook entry exists in docs/operations.md. tests/prometheus_test.ts runs the same rules in a
 * real Prometheus scraping the real programs.
 *
 * Needs no server, only Debian's `promtool` on PATH (`apt-get install prometheus`): a missing one
 * skips these tests, and fails them under `CI=true`.
 *
 * Requires `--allow-read`, `--allow-run` (promtool) and `--allow-env=CI,PATH`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { durationMs, prometheusTest, promtool, readYaml, ROOT, ruleFiles } from "./support/prometheus.ts";

/** A promtool unit-test file, as far as these checks go. */
interface RuleTestFile {
  rule_files: string[];
  tests: {
    name: string;
    alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: unknown[] }[];
  }[];
}

async function ruleTestFiles(): Promise<{ path: string; tests: RuleTestFile }[]> {
  const files: { path: string; tests: RuleTestFile }[] = [];
  for await (const entry of Deno.readDir(new URL("prometheus/tests/", ROOT))) {
    if (!entry.isFile || !entry.name.endsWith(".yml")) continue;
    const path = `prometheus/tests/${entry.name}`;
    files.push({ path, tests: (await readYaml(path)) as RuleTestFile });
  }
  return files;
}

const alerts = async () =>
  (await ruleFiles()).flatMap(({ rules }) => rules.groups.flatMap((g) => g.rules)).filter((r) => r.alert);

prometheusTest("`promtool check rules` accepts every rule file of prometheus/rules/", async () => {
  const files = await ruleFiles();
  assert.ok(files.length >= 1, "no prometheus/rules/*.yml");
  const { code, output } = await promtool("check", "rules", ...files.map((f) => f.path));
  assert.equal(code, 0, output);
  assert.match(output, /SUCCESS: \d+ rules found/);
});

prometheusTest(
  "`promtool test rules`: each alert fires on the series of its unit tests, and only when it should",
  async () => {
    const files = await ruleTestFiles();
    assert.ok(files.length >= 1, "no prometheus/tests/*.yml");
    const { code, output } = await promtool("test", "rules", ...files.map((f) => f.path));
    assert.equal(code, 0, output);
    assert.match(output, /SUCCESS/);
  },
);

Deno.test("the unit tests load the shipped rule files, and show every alert both firing and quiet", async () => {
  const files = await ruleTestFiles();
  const shipped = (await ruleFiles()).map((f) => f.path);
  const fired = new Set<string>(), quiet = new Set<string>();
  for (const { path, tests } of files) {
    for (const ruleFile of tests.rule_files) {
      const resolved = new URL(ruleFile, new URL(path, ROOT)).pathname.slice(ROOT.pathname.length);
      assert.ok(shipped.includes(resolved), `${path} loads ${resolved}, which is not a shipped rule file`);
    }
    for (const check of tests.tests.flatMap((t) => t.alert_rule_test ?? [])) {
      ((check.exp_alerts ?? []).length > 0 ? fired : quiet).add(check.alertname);
    }
  }
  for (const rule of await alerts()) {
    assert.ok(fired.has(rule.alert!), `no unit test shows ${rule.alert} firing`);
    assert.ok(quiet.has(rule.alert!), `no unit test shows ${rule.alert} quiet`);
  }
});

Deno.test("every alert has a severity, a summary and a runbook entry in docs/operations.md", async () => {
  const operations = await Deno.readTextFile(new URL("docs/operations.md", ROOT));
  const rules = await alerts();
  assert.ok(rules.length >= 8, `${rules.length} alerts`);
  for (const rule of rules) {
    const name = rule.alert!;
    assert.match(rule.labels?.severity ?? "", /^(critical|warning)$/, `${name}: severity`);
    assert.ok((rule.annotations?.summary ?? "").length > 10, `${name}: summary`);
    assert.equal(rule.annotations?.runbook, `docs/operations.md#${name.toLowerCase()}`, `${name}: runbook`);
    // a heading of its own (GitHub's anchor: the name in lower case), followed by what it means and what to check
    const section = new RegExp(`^#### ${name}\\n\\n([^#]+)`, "m").exec(operations);
    assert.ok(section !== null, `docs/operations.md has no '#### ${name}' runbook heading`);
    assert.match(section[0], /\*\*Check\s+first\*\*/, `${name}: the runbook says what to check first`);
  }
  const documented = [...operations.matchAll(/^#### (Heartbeat\w+)$/gm)].map((m) => m[1]);
  assert.deepEqual(documented.sort(), rules.map((r) => r.alert).sort(), "runbook headings without a rule");
});

Deno.test("the shipped rules wait as the runbook says: 1 minute for a down or unready consumer, 5 for trends", async () => {
  const byName = new Map((await alerts()).map((r) => [r.alert!, r]));
  const waits: [string, string | undefined][] = [
    ["HeartbeatConsumerDown", "1m"],
    ["HeartbeatConsumerNotReady", "1m"],
    ["HeartbeatConsumerLagGrowing", "5m"],
    ["HeartbeatDeadLetterShareHigh", "5m"],
    ["HeartbeatEndToEndDelayHigh", "5m"],
    ["HeartbeatDatabaseOutage", undefined],
    ["HeartbeatProducerSendsFailing", undefined],
  ];
  for (const [name, wait] of waits) {
    const rule = byName.get(name);
    assert.ok(rule !== undefined, `no alert ${name}`);
    assert.equal(rule.for, wait, name);
    if (wait !== undefined) assert.ok(durationMs(wait) >= 60_000);
  }
});
