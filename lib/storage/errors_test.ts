import assert from "node:assert/strict";
import { classifyError, DataError, TransientError, UnencodableRowError } from "./errors.ts";

Deno.test("classifyError() makes SQLSTATE classes 22 and 23 data errors and everything else transient", async (t) => {
  const cases: [unknown, typeof DataError | typeof TransientError][] = [
    [Object.assign(new Error("value out of range"), { code: "22003" }), DataError],
    [Object.assign(new Error("duplicate key"), { code: "23505" }), DataError],
    [Object.assign(new Error("invalid byte sequence"), { code: "22P05" }), DataError],
    [Object.assign(new Error("terminating connection"), { code: "57P01" }), TransientError],
    [Object.assign(new Error("connection failure"), { code: "08006" }), TransientError],
    [Object.assign(new Error("relation does not exist"), { code: "42P01" }), TransientError],
    [new Error("Connection terminated"), TransientError],
    [{ code: 22003 }, TransientError], // a code that is not a SQLSTATE string
    [null, TransientError],
  ];
  for (const [error, kind] of cases) {
    await t.step(`${error instanceof Error ? error.message : JSON.stringify(error)} → ${kind.name}`, () => {
      const classified = classifyError(error);
      assert.ok(classified instanceof kind, classified.name);
      assert.equal(classified.cause, error, "the original error is kept as the cause");
    });
  }
});

Deno.test("classifyError() keeps the SQLSTATE and the message, and leaves classified errors as they are", () => {
  const refused = classifyError(Object.assign(new Error("value out of range"), { code: "22003" }));
  assert.equal(refused.code, "22003");
  assert.equal(refused.message, "value out of range");
  const unencodable = new UnencodableRowError(new TypeError("Cannot encode uuid"));
  assert.equal(classifyError(unencodable), unencodable);
  assert.ok(unencodable instanceof DataError);
});

Deno.test("a data error's dead-letter detail says who refused the record", () => {
  assert.equal(new DataError("value out of range", "22003").detail, "the database refused it: value out of range");
  assert.equal(
    new UnencodableRowError(new TypeError('Cannot encode uuid "x"')).detail,
    'cannot encode the row for PostgreSQL: Cannot encode uuid "x"',
  );
});
