import assert from "node:assert/strict";
import { formatCount, formatDuration } from "./progress.ts";

Deno.test("formatCount() rounds and adds thousands separators", async (t) => {
  const rows: { n: number; text: string }[] = [
    { n: 0, text: "0" },
    { n: 7, text: "7" },
    { n: 999, text: "999" },
    { n: 1000, text: "1,000" },
    { n: 1234567, text: "1,234,567" },
    { n: 1234.4, text: "1,234" },
    { n: 1234.6, text: "1,235" },
    { n: -4321, text: "-4,321" },
  ];
  for (const { n, text } of rows) {
    await t.step(`${n} is ${text}`, () => assert.equal(formatCount(n), text));
  }
});

Deno.test("formatDuration() shows seconds below a minute, then minutes and hours", async (t) => {
  const rows: { seconds: number; text: string }[] = [
    { seconds: 0, text: "0.0s" },
    { seconds: 3.44, text: "3.4s" },
    { seconds: 59.9, text: "59.9s" },
    { seconds: 60, text: "1m00s" },
    { seconds: 123, text: "2m03s" },
    { seconds: 123.9, text: "2m03s" },
    { seconds: 3599, text: "59m59s" },
    { seconds: 3600, text: "1h00m00s" },
    { seconds: 3723, text: "1h02m03s" },
    { seconds: 90_000, text: "25h00m00s" },
    { seconds: -1, text: "?" },
    { seconds: NaN, text: "?" },
    { seconds: Infinity, text: "?" },
  ];
  for (const { seconds, text } of rows) {
    await t.step(`${seconds} s is ${text}`, () => assert.equal(formatDuration(seconds), text));
  }
});
