import assert from "node:assert/strict";
import fc from "fast-check";
import { Random, uuidv7 } from "./random.ts";

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function draw<T>(n: number, f: () => T): T[] {
  return Array.from({ length: n }, f);
}

Deno.test("Random gives the same sequence for the same seed and stream", () => {
  const a = new Random(42, 3), b = new Random(42, 3);
  assert.deepEqual(draw(1000, () => a.uint32()), draw(1000, () => b.uint32()));
});

Deno.test("Random gives different sequences for different seeds or streams", () => {
  const first = (seed: number, stream = 0) => {
    const r = new Random(seed, stream);
    return draw(8, () => r.uint32());
  };
  assert.notDeepEqual(first(1), first(2));
  assert.notDeepEqual(first(1, 0), first(1, 1));
  assert.notDeepEqual(first(0, 1), first(1, 0));
});

Deno.test("Random truncates a fractional seed", () => {
  const a = new Random(7.9), b = new Random(7);
  assert.deepEqual(draw(10, () => a.uint32()), draw(10, () => b.uint32()));
});

Deno.test("Random.uint32() returns whole numbers in [0, 2^32) spread over the whole range", () => {
  const r = new Random(1);
  const values = draw(10_000, () => r.uint32());
  for (const v of values) assert.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32, String(v));
  assert.ok(values.some((v) => v >= 2 ** 31), "the top bit is set sometimes");
  assert.ok(values.some((v) => v < 2 ** 31), "the top bit is clear sometimes");
  assert.ok(new Set(values).size > 9_990, "values do not repeat much");
});

Deno.test("Random.next() returns floats in [0, 1) with a mean near 1/2", () => {
  const r = new Random(2);
  const values = draw(10_000, () => r.next());
  for (const v of values) assert.ok(v >= 0 && v < 1, String(v));
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, String(mean));
});

Deno.test("Random.int() returns every whole number between its inclusive bounds and nothing else", async (t) => {
  const rows: { min: number; max: number }[] = [
    { min: 1, max: 6 },
    { min: 0, max: 1 },
    { min: -3, max: 3 },
    { min: 5, max: 5 },
    { min: 38, max: 50 },
  ];
  for (const { min, max } of rows) {
    await t.step(`int(${min}, ${max})`, () => {
      const r = new Random(min * 31 + max);
      const seen = new Set(draw(5_000, () => r.int(min, max)));
      for (const v of seen) assert.ok(Number.isInteger(v) && v >= min && v <= max, String(v));
      assert.equal(seen.size, max - min + 1);
    });
  }
});

Deno.test("Random.uniform() returns floats in [min, max)", () => {
  const r = new Random(3);
  const values = draw(5_000, () => r.uniform(600, 3600));
  for (const v of values) assert.ok(v >= 600 && v < 3600, String(v));
  assert.ok(Math.min(...values) < 700 && Math.max(...values) > 3500);
});

Deno.test("Random.chance() is never true at 0, always true at 1 and about p in between", () => {
  const r = new Random(4);
  assert.ok(draw(1_000, () => r.chance(0)).every((x) => !x));
  assert.ok(draw(1_000, () => r.chance(1)).every((x) => x));
  const hits = draw(10_000, () => r.chance(0.3)).filter(Boolean).length;
  assert.ok(hits > 2_800 && hits < 3_200, String(hits));
});

Deno.test("Random.gaussian() has the requested mean and standard deviation", () => {
  const r = new Random(5);
  const values = draw(20_000, () => r.gaussian(70, 5));
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
  assert.ok(Math.abs(mean - 70) < 0.2, `mean ${mean}`);
  assert.ok(Math.abs(sd - 5) < 0.2, `sd ${sd}`);
  for (const v of values) assert.ok(Number.isFinite(v));
});

Deno.test("Random.pick() returns each element of the array and refuses an empty array", () => {
  const r = new Random(6);
  const items = ["a", "b", "c", "d"] as const;
  assert.deepEqual(new Set(draw(1_000, () => r.pick(items))), new Set(items));
  assert.throws(() => r.pick([]), RangeError);
});

Deno.test("uuidv7() returns an RFC 9562 version 7 UUID whose first 48 bits are the milliseconds", async (t) => {
  const rows: { ms: number; prefix: string }[] = [
    { ms: 0, prefix: "00000000-0000" },
    { ms: Date.UTC(2026, 0, 1), prefix: "019b76da-a800" },
    { ms: Date.UTC(2026, 0, 1) + 0.999, prefix: "019b76da-a800" },
    { ms: 2 ** 48 - 1, prefix: "ffffffff-ffff" },
    { ms: -5, prefix: "00000000-0000" },
  ];
  for (const { ms, prefix } of rows) {
    await t.step(`${ms} ms gives ${prefix}-7...`, () => {
      const id = uuidv7(ms, new Random(1));
      assert.match(id, UUIDV7);
      assert.equal(id.slice(0, 13), prefix);
    });
  }
});

Deno.test("uuidv7() is deterministic for the same random state and varies with it", () => {
  const ms = Date.UTC(2026, 0, 1);
  assert.equal(uuidv7(ms, new Random(9)), uuidv7(ms, new Random(9)));
  const r = new Random(9);
  assert.notEqual(uuidv7(ms, r), uuidv7(ms, r));
});

Deno.test("uuidv7() has the v7 format and time prefix for any time and seed", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.integer(), (ms, seed) => {
      const id = uuidv7(ms, new Random(seed));
      assert.match(id, UUIDV7);
      assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), ms);
    }),
    { numRuns: 1000 },
  );
});
