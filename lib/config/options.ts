/**
 * Configuration: every setting of the producer and the consumer, defined once with its flag, its
 * environment variable, its default and its zod schema. {@link parseConfig} reads flags and env
 * once, validates them, and fails fast with one line naming the bad setting; {@link helpText}
 * and the README's configuration table come from the same definitions, so they cannot drift.
 *
 * Requires `--allow-env` for the environment variables of the options it is given
 * (see {@link envNames}).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { z } from "zod";

/** One setting: its flag, env var, default, help text and schema (which parses the raw string). */
export interface OptionSpec<T = unknown> {
  /**
   * Long flag name without dashes, e.g. `rate`; absent for a setting read only from the
   * environment (one that must be known before flags are parsed).
   */
  flag?: string;
  /** Environment variable, e.g. `HEARTBEAT_RATE`. */
  env: string;
  /** What it does, one line. */
  help: string;
  /** Default as the user would type it, or undefined when the setting is optional. */
  default?: string;
  /** A boolean switch (`--dry-run`), which takes no value on the command line. */
  boolean?: boolean;
  /** A secret (password, passphrase): its value is never shown, not even in an error. */
  secret?: boolean;
  /** Parses and validates the raw string. */
  schema: z.ZodType<T>;
}

/** A table of options keyed by their name in the parsed config. */
export type OptionTable = Record<string, OptionSpec>;

/** The typed config an {@link OptionTable} parses to. */
export type ConfigOf<T extends OptionTable> = { [K in keyof T]: z.output<T[K]["schema"]> };

/** Thrown for a bad flag or env value; the message is the one line to print. */
export class ConfigError extends Error {
  /** @param message one line naming the setting and the bad value */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** zod schemas for raw strings, shared by the option tables. */
export const parse = {
  /** A positive integer, e.g. `5000`. */
  positiveInt: z.string().trim().regex(/^\d+$/, "expected a whole number").transform(Number)
    .pipe(z.number().int().positive("expected a whole number above 0").max(Number.MAX_SAFE_INTEGER)),
  /** A non-negative integer, e.g. `0`. */
  nonNegativeInt: z.string().trim().regex(/^\d+$/, "expected a whole number").transform(Number)
    .pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)),
  /** A positive number, e.g. `2.5`. */
  positiveNumber: z.string().trim().regex(/^\d+(\.\d+)?$/, "expected a number").transform(Number)
    .pipe(z.number().positive("expected a number above 0")),
  /** A fraction from 0 to 1, e.g. `0.01`. */
  fraction: z.string().trim().regex(/^\d+(\.\d+)?$/, "expected a number from 0 to 1")
    .transform(Number).pipe(z.number().min(0).max(1, "expected a number from 0 to 1")),
  /** `true`/`false` (also 1/0, yes/no). */
  boolean: z.string().trim().toLowerCase().pipe(
    z.enum(["true", "false", "1", "0", "yes", "no"], { message: "expected true or false" }),
  ).transform((v) => v === "true" || v === "1" || v === "yes"),
  /** A comma-separated list of `host:port`. */
  brokers: z.string().transform((s) => s.split(",").map((b) => b.trim()).filter((b) => b !== ""))
    .pipe(
      z.array(z.string().regex(/^[A-Za-z0-9._-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "expected host:port"))
        .min(1, "expected at least one host:port"),
    ),
  /** A Kafka topic name. */
  topic: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, "expected a Kafka topic name (letters, digits, . _ -)"),
  /** A `postgres://` or `postgresql://` URL. */
  databaseUrl: z.string().refine((s) => {
    try {
      const u = new URL(s);
      return (u.protocol === "postgres:" || u.protocol === "postgresql:") && u.hostname !== "";
    } catch {
      return false;
    }
  }, "expected a postgres://user@host:port/database URL"),
  /** A log level. */
  logLevel: z.enum(["debug", "info", "warn", "error"], { message: "expected debug, info, warn or error" }),
  /** An ISO 8601 time with timezone, or `now`; parsed to epoch milliseconds. */
  time: z.string().trim().transform((s, ctx) => {
    if (s === "now") return Date.now();
    const ms = /\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(s) ? Date.parse(s) : NaN;
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: "custom", message: "expected an ISO 8601 time with timezone, or now" });
      return z.NEVER;
    }
    return ms;
  }),
  /** A duration like `30s`, `5m`, `1h`, `250ms`; parsed to milliseconds. */
  duration: z.string().trim().transform((s, ctx) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s);
    if (m === null) {
      ctx.addIssue({ code: "custom", message: "expected a duration like 500ms, 30s, 5m or 1h" });
      return z.NEVER;
    }
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
    return Number(m[1]) * unit;
  }),
  /** Comma-separated UTC offsets like `+00:00,-05:00,+05:30`; parsed to minutes east of UTC. */
  utcOffsets: z.string().trim().transform((s, ctx) => {
    const out: number[] = [];
    for (const part of s.split(",").map((p) => p.trim())) {
      const m = /^([+-])(\d{2}):(\d{2})$/.exec(part);
      const minutes = m === null ? NaN : (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
      if (m === null || Number(m[3]) >= 60 || minutes < -12 * 60 || minutes > 14 * 60) {
        ctx.addIssue({ code: "custom", message: "expected UTC offsets like +00:00,-05:00 (from -12:00 to +14:00)" });
        return z.NEVER;
      }
      out.push(minutes);
    }
    return out;
  }),
  /** A host name or an IP address (IPv6 without brackets), e.g. `127.0.0.1`. */
  host: z.string().trim().regex(/^[A-Za-z0-9._-]+$|^[0-9a-fA-F:]+$/, "expected a host name or IP address"),
  /** A TCP port, 0 meaning off. */
  port: z.string().trim().regex(/^\d+$/, "expected a port number").transform(Number)
    .pipe(z.number().int().min(0).max(65535, "expected a port number from 0 to 65535")),
} as const;

/** Wraps a schema so that a missing value stays `undefined`. */
export function optional<T>(schema: z.ZodType<T>): z.ZodType<T | undefined> {
  return schema.optional() as z.ZodType<T | undefined>;
}

/** The environment variables an option table reads, sorted (for `--allow-env`). */
export function envNames(table: OptionTable): string[] {
  return Object.values(table).map((o) => o.env).sort();
}

/** What {@link parseConfig} reads: argv and a lookup of env names. */
export interface ConfigSource {
  /** Command-line arguments, e.g. `Deno.args`. */
  args: string[];
  /** Reads one environment variable, e.g. `(name) => Deno.env.get(name)`. */
  env: (name: string) => string | undefined;
}

/** The result of {@link parseConfig}: a config, or a request for help. */
export type ParseResult<T extends OptionTable> = { help: true } | { help: false; config: ConfigOf<T> };

/**
 * Parses flags (which win) and env vars against an option table, validating every value.
 *
 * @throws {ConfigError} naming the flag or env var and the bad value, in one line
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig, parse } from "./options.ts";
 * const table = { rate: { flag: "rate", env: "RATE", help: "readings/s", default: "10", schema: parse.positiveNumber } };
 * const result = parseConfig(table, { args: ["--rate", "50"], env: () => undefined });
 * assert.deepEqual(result, { help: false, config: { rate: 50 } });
 * ```
 */
export function parseConfig<T extends OptionTable>(table: T, source: ConfigSource): ParseResult<T> {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const spec of Object.values(table)) {
    if (spec.flag !== undefined) options[spec.flag] = { type: spec.boolean ? "boolean" : "string" };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: source.args, options, strict: true, allowPositionals: false }));
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] ?? "" : String(error);
    throw new ConfigError(`${message.replace(/\. To specify.*$/, "")} (see --help)`, { cause: error });
  }
  if (values.help === true) return { help: true };
  const config: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    const flagValue = spec.flag === undefined ? undefined : values[spec.flag];
    let raw: string | undefined;
    let origin: string;
    if (flagValue !== undefined) {
      raw = typeof flagValue === "boolean" ? String(flagValue) : flagValue;
      origin = `--${spec.flag}`;
    } else if (source.env(spec.env) !== undefined && source.env(spec.env) !== "") {
      raw = source.env(spec.env);
      origin = `${spec.env} (environment)`;
    } else {
      raw = spec.default;
      origin = spec.flag === undefined ? `${spec.env} (default)` : `--${spec.flag} (default)`;
    }
    const result = spec.schema.safeParse(raw);
    if (!result.success) {
      const why = result.error.issues[0]?.message ?? "invalid value";
      const shown = raw === undefined ? "nothing" : spec.secret ? "a value (hidden: secret)" : JSON.stringify(raw);
      throw new ConfigError(`Invalid ${origin}: ${why}, got ${shown}`);
    }
    config[name] = result.data;
  }
  return { help: false, config: config as ConfigOf<T> };
}

/** Renders `--help` for an option table. */
export function helpText(usage: string, table: OptionTable): string {
  const rows = Object.values(table).map((o) => {
    const flag = o.flag === undefined ? "(environment only)" : o.boolean ? `--${o.flag}` : `--${o.flag} <value>`;
    const dflt = o.default === undefined ? "" : ` (default: ${o.default})`;
    return `  ${flag.padEnd(28)} ${o.help}${dflt}\n  ${"".padEnd(28)} env ${o.env}`;
  });
  return `${usage}\n\nOptions:\n${rows.join("\n")}\n  ${"--help, -h".padEnd(28)} Show this help\n`;
}

/** Renders an option table as a Markdown table (the README embeds it; a test compares them). */
export function markdownTable(table: OptionTable): string {
  const lines = ["| flag | env | default | meaning |", "|---|---|---|---|"];
  for (const o of Object.values(table)) {
    const flag = o.flag === undefined ? "(env only)" : `\`--${o.flag}\``;
    lines.push(`| ${flag} | \`${o.env}\` | ${o.default === undefined ? "" : `\`${o.default}\``} | ${o.help} |`);
  }
  return lines.join("\n");
}
