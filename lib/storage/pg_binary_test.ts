import assert from "node:assert/strict";
import { BinaryArray, OID } from "./pg_binary.ts";

Deno.test("BinaryArray refuses what is not a uuid, naming it", async (t) => {
  const rows: { name: string; text: string; error: RegExp }[] = [
    { name: "too short", text: "019abf3c-1d2e-7a00-8000-00000000000", error: /expected 36 characters/ },
    { name: "not hexadecimal", text: "019abf3c-1d2e-7a00-8000-00000000000g", error: /not hexadecimal/ },
    { name: "36 digits and no dashes", text: "019abf3c1d2e7a008000000000000000000f", error: /expected 8-4-4-4-12/ },
    { name: "a dash out of place", text: "019abf3c1-d2e-7a00-8000-00000000000f", error: /expected 8-4-4-4-12/ },
    { name: "a dash among the digits", text: "-19abf3c-1d2e-7a00-8000-00000000000f", error: /not hexadecimal/ },
  ];
  for (const row of rows) {
    await t.step(row.name, () => {
      const a = new BinaryArray(OID.uuid, 1, 16);
      assert.throws(() => a.uuid(row.text), (e: Error) => e instanceof TypeError && row.error.test(e.message));
      a.uuid("019ABF3C-1D2E-7A00-8000-00000000000F"); // nothing was written: the array takes a valid one
      assert.equal(a.done().byteLength, 20 + 4 + 16);
    });
  }
});

Deno.test("BinaryArray refuses more or fewer elements than it was made for", () => {
  const a = new BinaryArray(OID.int4, 2, 8);
  a.int4(1);
  assert.throws(() => a.done(), /1 of 2 elements written/);
  a.null();
  assert.throws(() => a.int4(3), /the array holds 2/);
  assert.deepEqual([...a.done()], [
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    23,
    0,
    0,
    0,
    2,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    4,
    0,
    0,
    0,
    1,
    255,
    255,
    255,
    255,
  ]);
});

Deno.test("BinaryArray writes a timestamp the same from the validator's text and from epoch ms", async (t) => {
  const rows = [
    { iso: "2026-11-25T12:00:00.123456Z", ms: Date.UTC(2026, 10, 25, 12, 0, 0, 123) + 0.456 },
    { iso: "1970-01-01T00:00:00.000001Z", ms: 0.001 },
    { iso: "1969-12-31T23:59:59.999999Z", ms: -0.001 },
  ];
  for (const { iso, ms } of rows) {
    await t.step(iso, () => {
      const fromText = new BinaryArray(OID.timestamptz, 1, 8);
      fromText.timestamp(iso, Number.NaN); // canonical: the text alone decides
      const fromMs = new BinaryArray(OID.timestamptz, 1, 8);
      fromMs.timestamp(`${iso.slice(0, 19)}Z`, ms); // not canonical: epoch ms decides
      assert.deepEqual([...fromText.done()], [...fromMs.done()]);
    });
  }
});
