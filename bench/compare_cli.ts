#!/usr/bin/env -S deno run --allow-read
/**
 * `deno task bench:compare [FILE...]`: compares results files (default
 * `bench/results/latest.json`; also `episodes-latest.json` and `dashboard-latest.json`) with the
 * reviewed baseline `bench/baseline.json` and prints each headline figure beside the baseline's.
 * A report, not a gate: exits 0 whatever the figures did; 1 when a file cannot be read (a missing
 * baseline among them, with a one-line error), 2 for wrong arguments.
 *
 * Requires `--allow-read` (the files to compare may be anywhere, e.g. a copy in /tmp).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Baseline, parseBaseline, renderComparison, type ResultsInput } from "./compare.ts";

/** The reviewed baseline. */
export const BASELINE = new URL("./baseline.json", import.meta.url);
const BASELINE_NAME = "bench/baseline.json";
const LATEST = "bench/results/latest.json";

const USAGE = `usage: deno task bench:compare [FILE...]

Compares results files of deno task bench, bench:episodes or bench:dashboard with ${BASELINE_NAME}
(default: ${LATEST}). Exits 0 whatever the figures did: a report, not a gate.`;

/** An error's message on one line. */
const message = (error: unknown) => (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ");

/** Reads and checks the baseline; the error says what to do when there is none. */
export async function readBaseline(url: URL = BASELINE): Promise<Baseline> {
  let text: string;
  try {
    text = await Deno.readTextFile(url);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `no baseline at ${BASELINE_NAME}: write one from reviewed results with deno task bench:baseline FILE...`,
      );
    }
    throw new Error(`cannot read ${BASELINE_NAME}: ${message(error)}`);
  }
  try {
    return parseBaseline(JSON.parse(text));
  } catch (error) {
    throw new Error(`${BASELINE_NAME}: ${message(error)}`);
  }
}

/** Reads one results file. */
export async function readResults(file: string): Promise<ResultsInput> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new Error(
      error instanceof Deno.errors.NotFound ? `no results file ${file}` : `cannot read ${file}: ${message(error)}`,
    );
  }
  try {
    return { file, json: JSON.parse(text) };
  } catch (error) {
    throw new Error(`${file} is not JSON: ${message(error)}`);
  }
}

/**
 * Prints the comparison of `inputs` with the baseline on stdout, or one line saying why it cannot
 * on stderr; never throws. Returns whether it printed the comparison.
 */
export async function printComparison(inputs: readonly ResultsInput[], url: URL = BASELINE): Promise<boolean> {
  try {
    const baseline = await readBaseline(url);
    console.log(renderComparison(baseline, inputs, BASELINE_NAME));
    return true;
  } catch (error) {
    console.error(`bench:compare: ${message(error)}`);
    return false;
  }
}

if (import.meta.main) {
  let parsed;
  try {
    parsed = parseArgs({ args: Deno.args, allowPositionals: true, options: { help: { type: "boolean" } } });
  } catch (error) {
    console.error(`bench:compare: ${message(error)}\n\n${USAGE}`);
    Deno.exit(2);
  }
  if (parsed.values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const files = parsed.positionals.length > 0 ? parsed.positionals : [LATEST];
  const inputs: ResultsInput[] = [];
  for (const file of files) {
    try {
      inputs.push(await readResults(file));
    } catch (error) {
      console.error(`bench:compare: ${message(error)}`);
      Deno.exit(1);
    }
  }
  Deno.exit(await printComparison(inputs) ? 0 : 1);
}
