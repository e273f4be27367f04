/**
 * Logging: structured JSON lines (level, time, msg, fields) when stderr is not a terminal, short
 * readable lines when it is. Logs go to stderr so that stdout stays clean for data (`--dry-run`).
 *
 * @module
 */

/** Log levels, least severe first. */
export const LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@link LEVELS}. */
export type Level = typeof LEVELS[number];

/** Extra structured fields of a log line. */
export type Fields = Record<string, unknown>;

/** A leveled logger; see {@link createLogger}. */
export interface Logger {
  /** Detailed diagnostics. */
  debug(msg: string, fields?: Fields): void;
  /** Normal operation. */
  info(msg: string, fields?: Fields): void;
  /** Something is wrong but handled (e.g. retrying). */
  warn(msg: string, fields?: Fields): void;
  /** Something failed. */
  error(msg: string, fields?: Fields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Fields): Logger;
  /** Whether lines are pretty (terminal) or JSON. */
  readonly pretty: boolean;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Least severe level printed (default `info`). */
  level?: Level;
  /** Pretty lines instead of JSON (default: whether stderr is a terminal). */
  pretty?: boolean;
  /** Where lines go (default: stderr). */
  write?: (line: string) => void;
  /** Clock, for tests. */
  now?: () => Date;
}

const encoder = new TextEncoder();

function errorFields(value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (value.cause !== undefined) out.cause = errorFields(value.cause);
    return out;
  }
  return value;
}

/**
 * Creates a logger.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createLogger } from "./log.ts";
 * const lines: string[] = [];
 * const now = () => new Date("2026-11-25T20:00:00Z");
 * const log = createLogger({ level: "info", pretty: false, write: (line) => lines.push(line), now });
 * log.info("stored batch", { rows: 5000 });
 * log.debug("not printed: below info");
 * assert.deepEqual(lines, ['{"level":"info","time":"2026-11-25T20:00:00.000Z","msg":"stored batch","rows":5000}']);
 * ```
 */
export function createLogger(options: LoggerOptions = {}, bound: Fields = {}): Logger {
  const min = LEVELS.indexOf(options.level ?? "info");
  const pretty = options.pretty ?? Deno.stderr.isTerminal();
  const write = options.write ?? ((line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n")));
  const now = options.now ?? (() => new Date());
  const emit = (level: Level, msg: string, fields: Fields = {}) => {
    if (LEVELS.indexOf(level) < min) return;
    const all: Fields = { ...bound, ...fields };
    for (const [k, v] of Object.entries(all)) all[k] = errorFields(v);
    if (pretty) {
      const time = now().toISOString().slice(11, 23);
      const extra = Object.entries(all).filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
      write(`${time} ${level.toUpperCase().padEnd(5)} ${msg}${extra.length ? "  " + extra.join(" ") : ""}`);
    } else {
      write(JSON.stringify({ level, time: now().toISOString(), msg, ...all }));
    }
  };
  return {
    pretty,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}
