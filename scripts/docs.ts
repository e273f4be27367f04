#!/usr/bin/env -S deno run --allow-read=README.md,docs/operations.md --allow-write=README.md,docs/operations.md
/**
 * Regenerates the configuration tables of the README and of docs/operations.md (the security
 * settings and `deno task dev`'s) from the option definitions in lib/config/, between `<!-- BEGIN config:NAME -->` and
 * `<!-- END config:NAME -->` markers. `deno task docs` rewrites them; the test suite fails when
 * they are out of date.
 *
 * @module
 */
import { consumerOptions, markdownTable, type OptionTable, producerOptions } from "../lib/config/mod.ts";
import { databaseSecurityOptions, kafkaSecurityOptions } from "../lib/config/security.ts";
import { devOptions } from "./dev/options.ts";

/** The settings both programs share (the same definitions), and each one's own. */
const shared: OptionTable = Object.fromEntries(
  Object.entries(producerOptions).filter(([key, spec]) => (consumerOptions as OptionTable)[key] === spec),
);
const own = (table: OptionTable): OptionTable =>
  Object.fromEntries(Object.entries(table).filter(([key]) => !(key in shared)));

const security = new Set(
  [...Object.values(kafkaSecurityOptions), ...Object.values(databaseSecurityOptions("DATABASE", "database"))].map((o) =>
    o.env
  ),
);
const without = (table: OptionTable, envs: Set<string>): OptionTable =>
  Object.fromEntries(Object.entries(table).filter(([, spec]) => !envs.has(spec.env)));
const only = (table: OptionTable, envs: Set<string>): OptionTable =>
  Object.fromEntries(Object.entries(table).filter(([, spec]) => envs.has(spec.env)));

/** The tables each document embeds, by file and marker name. */
export const TABLES: Record<string, Record<string, OptionTable>> = {
  "README.md": {
    shared: without(shared, security),
    producer: without(own(producerOptions), security),
    consumer: without(own(consumerOptions), security),
  },
  "docs/operations.md": {
    "kafka-security": only(shared, security),
    "database-security": only(consumerOptions, security),
    dev: devOptions,
  },
};

/** Returns a document's text with every marked table regenerated. */
export function renderTables(file: string, text: string): string {
  let out = text;
  for (const [name, table] of Object.entries(TABLES[file] ?? {})) {
    const begin = `<!-- BEGIN config:${name} -->`, end = `<!-- END config:${name} -->`;
    const i = out.indexOf(begin), j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`${file} lacks the ${begin} ... ${end} markers`);
    out = `${out.slice(0, i + begin.length)}\n\n${markdownTable(table)}\n\n${out.slice(j)}`;
  }
  return out;
}

if (import.meta.main) {
  for (const file of Object.keys(TABLES)) {
    const url = new URL(`../${file}`, import.meta.url);
    const before = await Deno.readTextFile(url);
    const after = renderTables(file, before);
    if (after !== before) await Deno.writeTextFile(url, after);
    console.log(after === before ? `${file} tables are up to date` : `${file} tables regenerated`);
  }
}
