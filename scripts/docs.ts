#!/usr/bin/env -S deno run --allow-read=README.md --allow-write=README.md
/**
 * Regenerates the README's configuration tables from the option definitions in lib/config.ts,
 * between `<!-- BEGIN config:NAME -->` and `<!-- END config:NAME -->` markers.
 * `deno task docs` rewrites them; the test suite fails when they are out of date.
 *
 * @module
 */
import { consumerOptions, markdownTable, type OptionTable, producerOptions } from "../lib/config/mod.ts";

/** The tables the README embeds, by marker name. */
export const TABLES: Record<string, OptionTable> = { producer: producerOptions, consumer: consumerOptions };

/** Returns the README text with every marked table regenerated. */
export function renderReadme(readme: string): string {
  let out = readme;
  for (const [name, table] of Object.entries(TABLES)) {
    const begin = `<!-- BEGIN config:${name} -->`, end = `<!-- END config:${name} -->`;
    const i = out.indexOf(begin), j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`README.md lacks the ${begin} ... ${end} markers`);
    out = `${out.slice(0, i + begin.length)}\n\n${markdownTable(table)}\n\n${out.slice(j)}`;
  }
  return out;
}

if (import.meta.main) {
  const url = new URL("../README.md", import.meta.url);
  const before = await Deno.readTextFile(url);
  const after = renderReadme(before);
  if (after !== before) await Deno.writeTextFile(url, after);
  console.log(after === before ? "README.md tables are up to date" : "README.md tables regenerated");
}
