#!/usr/bin/env -S deno run --allow-read --allow-write=bench/baseline.json
/**
 * `deno task bench:baseline [--note TEXT] FILE...`: writes `bench/baseline.json`, the headline
 * figures (bench/figures.ts) of reviewed results files with where each came from. Give the files
 * of one review: a full `deno task bench` run, a `--soak 10m` run, `episodes-latest.json` and
 * `dashboard-latest.json` (a figure found in two files is an error). Review `git diff
 * bench/baseline.json` before committing it.
 *
 * Requires `--allow-read` (the results may be anywhere) and `--allow-write=bench/baseline.json`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { buildBaseline, formatBaseline } from "./compare.ts";
import { BASELINE, readResults } from "./compare_cli.ts";

const USAGE = `usage: deno task bench:baseline [--note TEXT] FILE...

Writes bench/baseline.json from the headline figures of these results files (of deno task bench,
bench:episodes, bench:dashboard). --note: the reviewer's note kept in the file.`;

const message = (error: unknown) => error instanceof Error ? error.message : String(error);

if (import.meta.main) {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: { note: { type: "string" }, help: { type: "boolean" } },
    });
  } catch (error) {
    console.error(`bench:baseline: ${message(error)}\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (parsed.values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (parsed.positionals.length === 0) {
    console.error(`bench:baseline: give the results files to take the figures from\n\n${USAGE}`);
    Deno.exit(2);
  }
  try {
    const inputs = [];
    for (const file of parsed.positionals) inputs.push(await readResults(file));
    const baseline = buildBaseline(inputs, parsed.values.note);
    await Deno.writeTextFile(BASELINE, formatBaseline(baseline));
    const sources = Object.entries(baseline.sources).map(([id, s]) => `${id} (${s.file})`).join(", ");
    console.log(
      `wrote bench/baseline.json: ${Object.keys(baseline.figures).length} figures from ${sources}; ` +
        "review git diff bench/baseline.json before committing",
    );
  } catch (error) {
    console.error(`bench:baseline: ${message(error)}`);
    Deno.exit(1);
  }
}
