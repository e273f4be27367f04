import assert from "node:assert/strict";
import { createLogger, type Level, LEVELS, type LoggerOptions } from "./log.ts";

const TIME = new Date("2026-11-25T20:00:00.123Z");

/** A logger writing into an array, with a fixed clock. */
function capture(options: LoggerOptions = {}) {
  const lines: string[] = [];
  const log = createLogger({ pretty: false, now: () => TIME, write: (line) => lines.push(line), ...options });
  return { log, lines };
}

Deno.test("createLogger() writes one JSON line with level, time, msg and the fields", () => {
  const { log, lines } = capture();
  log.info("stored batch", { rows: 5000, partition: "3" });
  assert.deepEqual(lines, [
    '{"level":"info","time":"2026-11-25T20:00:00.123Z","msg":"stored batch","rows":5000,"partition":"3"}',
  ]);
  assert.equal(log.pretty, false);
});

Deno.test("createLogger() writes a JSON line without fields when none are given", () => {
  const { log, lines } = capture();
  log.warn("retrying");
  assert.deepEqual(JSON.parse(lines[0]!), { level: "warn", time: TIME.toISOString(), msg: "retrying" });
});

Deno.test("createLogger() prints only the configured level and more severe ones", async (t) => {
  const rows: { level: Level | undefined; printed: Level[] }[] = [
    { level: undefined, printed: ["info", "warn", "error"] },
    { level: "debug", printed: ["debug", "info", "warn", "error"] },
    { level: "info", printed: ["info", "warn", "error"] },
    { level: "warn", printed: ["warn", "error"] },
    { level: "error", printed: ["error"] },
  ];
  for (const { level, printed } of rows) {
    await t.step(`at ${level ?? "the default level"}, ${printed.join(", ")} are printed`, () => {
      const { log, lines } = capture(level === undefined ? {} : { level });
      for (const l of LEVELS) log[l](`a ${l} line`);
      assert.deepEqual(lines.map((line) => JSON.parse(line).level), printed);
    });
  }
});

Deno.test("Logger.child() adds its fields to every line, and the line's own fields win", () => {
  const { log, lines } = capture();
  const child = log.child({ component: "sink", partition: 1 });
  const grandchild = child.child({ batch: 7 });
  child.info("a", { partition: 2 });
  grandchild.info("b");
  log.info("c");
  assert.deepEqual(lines.map((l) => JSON.parse(l)), [
    { level: "info", time: TIME.toISOString(), msg: "a", component: "sink", partition: 2 },
    { level: "info", time: TIME.toISOString(), msg: "b", component: "sink", partition: 1, batch: 7 },
    { level: "info", time: TIME.toISOString(), msg: "c" },
  ]);
});

Deno.test("Logger.child() keeps the parent's level", () => {
  const { log, lines } = capture({ level: "warn" });
  log.child({ a: 1 }).info("hidden");
  assert.deepEqual(lines, []);
});

Deno.test("createLogger() serialises Error values with name, message, code and cause", () => {
  const { log, lines } = capture();
  const cause = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
  log.error("cannot store batch", { error: new TypeError("bad row", { cause }), count: 3 });
  assert.deepEqual(JSON.parse(lines[0]!), {
    level: "error",
    time: TIME.toISOString(),
    msg: "cannot store batch",
    error: {
      name: "TypeError",
      message: "bad row",
      cause: { name: "Error", message: "connect ECONNREFUSED 127.0.0.1:5432", code: "ECONNREFUSED" },
    },
    count: 3,
  });
});

Deno.test("createLogger() serialises an Error in a child's bound fields too", () => {
  const { log, lines } = capture();
  log.child({ error: new RangeError("too big") }).warn("w");
  assert.deepEqual(JSON.parse(lines[0]!).error, { name: "RangeError", message: "too big" });
});

Deno.test("createLogger() in pretty mode writes time, padded level, message and key=value fields", async (t) => {
  const rows: { level: Level; msg: string; fields: Record<string, unknown> | undefined; line: string }[] = [
    { level: "info", msg: "started", fields: undefined, line: "20:00:00.123 INFO  started" },
    {
      level: "warn",
      msg: "retrying",
      fields: { attempt: 2, broker: "k1:9092", ok: false, ids: [1, 2] },
      line: "20:00:00.123 WARN  retrying  attempt=2 broker=k1:9092 ok=false ids=[1,2]",
    },
    {
      level: "error",
      msg: "failed",
      fields: { error: new Error("boom") },
      line: '20:00:00.123 ERROR failed  error={"name":"Error","message":"boom"}',
    },
    { level: "debug", msg: "d", fields: {}, line: "20:00:00.123 DEBUG d" },
  ];
  for (const { level, msg, fields, line } of rows) {
    await t.step(line, () => {
      const { log, lines } = capture({ pretty: true, level: "debug" });
      log[level](msg, fields);
      assert.deepEqual(lines, [line]);
      assert.equal(log.pretty, true);
    });
  }
});
