import assert from "node:assert/strict";
import { racedOverRoles } from "./migrations.ts";

Deno.test("the roles file is tried again only for another session changing the same roles at once", async (t) => {
  const error = (code: string, message = "x") => Object.assign(new Error(message), { code });
  const cases: [string, unknown, boolean][] = [
    ["tuple concurrently updated", error("XX000", "tuple concurrently updated"), true],
    ["tuple concurrently deleted", error("XX000", "tuple concurrently deleted"), true],
    ["both created the role (unique_violation)", error("23505"), true],
    ["duplicate_object", error("42710"), true],
    ["serialization failure", error("40001"), true],
    ["deadlock", error("40P01"), true],
    ["another internal error", error("XX000", "cache lookup failed"), false],
    ["a syntax error in the file", error("42601"), false],
    ["insufficient privilege", error("42501"), false],
    ["no code", new Error("Connection terminated"), false],
  ];
  for (const [name, e, expected] of cases) await t.step(name, () => assert.equal(racedOverRoles(e), expected));
});
