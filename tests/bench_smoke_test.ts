/**
 * The benchmarks still run, at a small scale: the figures themselves are measured by hand on a
 * quiet machine (docs/performance.md), but a benchmark that no longer runs on the current schema
 * is found here, not on the day someone needs its figures (the COPY ceiling broke that way when
 * dead letters gained their partition key). Nothing is timed: each run must finish and report.
 *
 * `deno task bench` writes `bench/results/` (not in git) like any run, `latest.json` included;
 * the storage benchmarks use a database of their own, dropped at the end.
 *
 * @module
 */
import assert from "node:assert/strict";
import { dropDatabase } from "./support/database.ts";
import { integrationTest, uniqueName } from "./support/helpers.ts";

/** Runs `deno task <task> <args>` from the project root to its end; its exit code and output. */
async function runTask(task: string, args: string[]): Promise<{ code: number; out: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", task, ...args],
    cwd: new URL("..", import.meta.url),
    env: { PATH: Deno.env.get("PATH") ?? "" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, out: `${text.decode(stdout)}\n${text.decode(stderr)}` };
}

integrationTest(
  "deno task bench measures the COPY ceiling and the sink on the current schema and gives their ratio",
  async () => {
    const { code, out } = await runTask("bench", [
      "--readings",
      "20000",
      "--skip",
      "baseline,java,scaling,peer,sink-tls,latency",
    ]);
    assert.equal(code, 0, out.slice(-3000));
    assert.doesNotMatch(out, /FAILED/, "no phase failed");
    assert.match(out, /\| ceiling: COPY FROM STDIN +\| [\d,]+ rows\/s/);
    assert.match(
      out,
      /\| sink: 1 consumer +\| [\d,]+ readings\/s +\| 20,000 in [\d.]+ s from process start; [\d.]+× ceiling/,
    );
  },
  300_000,
);

integrationTest(
  "the storage benchmarks run at a small scale: panel times over 1 h to 30 days, and retention dropping a day under a writer",
  async (t) => {
    const database = uniqueName("heartbeat_bench_ci").toLowerCase();
    try {
      await t.step("deno task bench:dashboard fills 4 days of daily partitions and times every panel", async () => {
        const { code, out } = await runTask("bench:dashboard", [
          ...["--database", database, "--fresh", "--customers", "2", "--hours", "96", "--runs", "1", "--end", "now"],
          ...["--ranges", "1h,24h,7d,30d"],
        ]);
        assert.equal(code, 0, out.slice(-3000));
        for (const panel of ['panel 11 "Rejects by reason" A', 'panel 2 "Readings/s" A', 'panel 15 "Ingest delay" A']) {
          assert.match(
            out,
            new RegExp(
              `\\| ${
                panel.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
              } +\\|( [\\d.]+ +\\| [\\d.]+ +\\| [\\d.]+ +\\| \\d+ +\\|){4}`,
            ),
          );
        }
      });
      await t.step("deno task bench:retention drops the oldest day while a writer stores batches", async () => {
        const { code, out } = await runTask("bench:retention", ["--database", database]);
        assert.equal(code, 0, out.slice(-3000));
        const line = out.split("\n").find((l) => l.startsWith("{"));
        const result = JSON.parse(line ?? "{}") as { dropped?: string[]; skipped?: string[]; batches?: number };
        assert.equal(result.dropped?.length, 1, line ?? "no result line");
        assert.match(result.dropped![0]!, /^readings_p\d{8}$/);
        assert.deepEqual(result.skipped, []);
        assert.ok((result.batches ?? 0) > 0, "the writer stored batches meanwhile");
      });
    } finally {
      await dropDatabase(`postgres://postgres@127.0.0.1:5432/${database}`);
    }
  },
  300_000,
);

Deno.test("the storage benchmarks refuse a --database that is not a plain lower-case SQL name, in one line", async (t) => {
  for (const task of ["bench:dashboard", "bench:retention"]) {
    await t.step(task, async () => {
      const { code, out } = await runTask(task, ["--database", "Bench; DROP"]);
      assert.equal(code, 2, out);
      const lines = out.split("\n").filter((l) => l.trim() !== "" && !l.includes("Task"));
      assert.deepEqual(lines, ['error: Invalid --database: expected a lower-case SQL name, got "Bench; DROP"']);
    });
  }
});
