/**
 * The dev console's lines: each program's JSON log lines (they log JSON when not on a terminal)
 * turned back into short readable lines under the program's name, the periodic `progress` lines
 * left out (the status line says more), anything else shown as it came.
 *
 * @module
 */

const LEVELS = new Set(["debug", "info", "warn", "error"]);

/** Colours for names on a terminal, or none. */
export interface Paint {
  name(text: string, index: number): string;
  level(text: string, level: string): string;
}

/** No colours (not a terminal, or NO_COLOR). */
export const PLAIN: Paint = { name: (t) => t, level: (t) => t };

/** ANSI colours: a colour per name, yellow warnings, red errors. */
export const ANSI: Paint = {
  name: (t, i) => `\x1b[${[36, 35, 34, 32, 33][i % 5]}m${t}\x1b[0m`,
  level: (t, level) => level === "error" ? `\x1b[31m${t}\x1b[0m` : level === "warn" ? `\x1b[33m${t}\x1b[0m` : t,
};

/** Width of the name column. */
export const NAME_WIDTH = 9;

/** The time column of a line printed now (HH:MM:SS.mmm, UTC like the programs' own). */
export function clock(now = new Date()): string {
  return now.toISOString().slice(11, 23);
}

/**
 * One line of a program, rendered; `undefined` for a line left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PLAIN, renderLine } from "./render.ts";
 * const json = '{"level":"info","time":"2026-12-04T18:00:01.250Z","msg":"alert opened","customer":"CUST-003"}';
 * assert.equal(renderLine("consumer", 0, json, PLAIN), "18:00:01.250 consumer  INFO  alert opened  customer=CUST-003");
 * assert.equal(renderLine("consumer", 0, '{"level":"info","time":"2026-12-04T18:00:01Z","msg":"progress"}', PLAIN), undefined);
 * ```
 */
export function renderLine(
  name: string,
  index: number,
  line: string,
  paint: Paint,
  now = new Date(),
): string | undefined {
  const trimmed = line.trimEnd();
  if (trimmed === "") return undefined;
  const head = (time: string) => `${time} ${paint.name(name.padEnd(NAME_WIDTH), index)}`;
  let entry: unknown;
  try {
    entry = trimmed.startsWith("{") ? JSON.parse(trimmed) : undefined;
  } catch {
    entry = undefined;
  }
  if (typeof entry !== "object" || entry === null || !LEVELS.has(String((entry as { level?: unknown }).level))) {
    return `${head(clock(now))} ${trimmed}`;
  }
  const { level, time, msg, ...fields } = entry as Record<string, unknown>;
  if (msg === "progress") return undefined;
  const at = typeof time === "string" && time.length >= 23 ? time.slice(11, 23) : clock(now);
  const extra = Object.entries(fields).filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  const lvl = paint.level(String(level).toUpperCase().padEnd(5), String(level));
  return `${head(at)} ${lvl} ${String(msg)}${extra.length > 0 ? "  " + extra.join(" ") : ""}`;
}

/** Splits a byte stream into lines, calling `onLine` for each (the last one even without a newline). */
export async function forEachLine(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let i: number;
    while ((i = rest.indexOf("\n")) >= 0) {
      onLine(rest.slice(0, i));
      rest = rest.slice(i + 1);
    }
  }
  if (rest !== "") onLine(rest);
}
