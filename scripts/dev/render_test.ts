import assert from "node:assert/strict";
import { ANSI, forEachLine, PLAIN, renderLine } from "./render.ts";

const NOW = new Date("2026-12-04T18:00:00.000Z");

Deno.test("renderLine turns a program's JSON log lines into short lines under its name", async (t) => {
  const cases: [string, string, string | undefined][] = [
    [
      "an info line with fields",
      '{"level":"info","time":"2026-12-04T18:00:01.250Z","msg":"joined group","partitions":[0,1]}',
      "18:00:01.250 consumer  INFO  joined group  partitions=[0,1]",
    ],
    [
      "a warning without fields",
      '{"level":"warn","time":"2026-12-04T18:00:02.000Z","msg":"database write failed; retrying"}',
      "18:00:02.000 consumer  WARN  database write failed; retrying",
    ],
    [
      "a progress line is left out",
      '{"level":"info","time":"2026-12-04T18:00:03Z","msg":"progress","records":5}',
      undefined,
    ],
    ["a blank line is left out", "   ", undefined],
    [
      "text that is not a log line is kept",
      "error: Invalid --rate: expected a number",
      "18:00:00.000 consumer  error: Invalid --rate: expected a number",
    ],
    [
      "JSON that is not a log line is kept",
      '{"customer_id":"CUST-001"}',
      '18:00:00.000 consumer  {"customer_id":"CUST-001"}',
    ],
  ];
  for (const [name, line, want] of cases) {
    await t.step(name, () => assert.equal(renderLine("consumer", 0, line, PLAIN, NOW), want));
  }
});

Deno.test("renderLine colours the name and an error's level on a terminal", () => {
  const line = renderLine(
    "producer",
    1,
    '{"level":"error","time":"2026-12-04T18:00:01.000Z","msg":"send failed"}',
    ANSI,
    NOW,
  );
  assert.equal(line, "18:00:01.000 \x1b[35mproducer \x1b[0m \x1b[31mERROR\x1b[0m send failed");
});

Deno.test("forEachLine splits a stream at newlines, across chunks, keeping a last unterminated line", async () => {
  const chunks = ["a\nb", "c\n\nd"].map((s) => new TextEncoder().encode(s));
  const lines: string[] = [];
  await forEachLine(ReadableStream.from(chunks), (l) => lines.push(l));
  assert.deepEqual(lines, ["a", "bc", "", "d"]);
});
