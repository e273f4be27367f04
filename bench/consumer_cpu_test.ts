import assert from "node:assert/strict";

Deno.test("bench:consumer-cpu runs every record through the consumer's path and prints CPU-seconds per 100k", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "bench:consumer-cpu", "--records", "6000", "--rounds", "2"],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  // 1 % invalid: the stand-in database got every record, as a reading or a dead letter
  assert.match(out, /^round 2: \d+\.\d{3} CPU-s per 100k records \(\d+ readings, \d+ dead letters\)$/m);
  const [, readings, letters] = out.match(/\((\d+) readings, (\d+) dead letters\)/)!;
  assert.equal(Number(readings) + Number(letters), 6000);
  assert.ok(Number(letters) > 0 && Number(letters) < 200, out);
  assert.match(out, /^median \d+\.\d{3} CPU-s per 100k records \(6000 records, 2 rounds\)$/m);
});

Deno.test("bench:consumer-cpu refuses a bad count in one line naming the flag", async () => {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "bench:consumer-cpu", "--records", "0"],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 2);
  assert.match(new TextDecoder().decode(stderr), /^Cannot use --records: expected a whole number of at least 1/m);
});
