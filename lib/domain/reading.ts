/**
 * The message contract and its validator: what a heart-rate reading on the Kafka topic looks like,
 * and the one function that turns raw Kafka bytes into either a valid {@link Reading} or a list of
 * {@link Rejection} reasons. Everything else (the consumer, the simulator's fault injection, the
 * tests) stands on this module.
 *
 * The contract (JSON, UTF-8, Kafka key = customer_id):
 *
 * ```json
 * {"customer_id":"CUST-001","timestamp":"2026-11-25T19:57:57.123456Z","heart_rate":72,
 *  "is_anomaly":false,"reading_id":"019abf3c-1d2e-7a00-8000-000000000001"}
 * ```
 *
 * `customer_id`, `timestamp` and `heart_rate` are required; `is_anomaly` and `reading_id` are
 * optional, so the reference Python producer's messages stay consumable. Unknown fields are ignored.
 *
 * @module
 */
import { z } from "zod";
import { type Category, classify, isAnomalous } from "./heart_rate.ts";
import { parseTimestamp, quote } from "./timestamp.ts";

/** Stable machine-readable reason codes for a rejected message; the README's rule table lists them. */
export const REASON_CODES = [
  "empty",
  "too_large",
  "not_utf8",
  "not_json",
  "not_object",
  "duplicate_key",
  "missing_field",
  "null_field",
  "wrong_type",
  "customer_id_invalid",
  "timestamp_unparsable",
  "timestamp_without_timezone",
  "timestamp_in_future",
  "heart_rate_out_of_range",
  "reading_id_invalid",
  "rejected_by_database",
] as const;

/** One of {@link REASON_CODES}. */
export type ReasonCode = typeof REASON_CODES[number];

/** Why a message was rejected: a stable code, the field it concerns (if any) and a human detail. */
export interface Rejection {
  /** Stable reason code, e.g. `heart_rate_out_of_range`. */
  code: ReasonCode;
  /** The JSON field the reason concerns, when it concerns one. */
  field?: string;
  /** A one-line human explanation, e.g. `heart_rate 400 is above 300`. */
  detail: string;
}

/** A valid reading, normalised for storage. */
export interface Reading {
  /** The customer the reading belongs to, e.g. `CUST-001`. */
  customerId: string;
  /** When the reading was taken, normalised to UTC ISO 8601 with microseconds. */
  recordedAt: string;
  /** `recordedAt` as epoch milliseconds (fractional below the millisecond). */
  recordedAtMs: number;
  /** Beats per minute; integers and floats are both accepted. */
  heartRate: number;
  /** Computed by the consumer: below 60 or above 100 bpm (60 and 100 are normal). */
  isAnomaly: boolean;
  /** The reading's class (see heart_rate.ts for the thresholds and their sources). */
  category: Category;
  /** The producer's own `is_anomaly` flag as sent, or `null` when absent. Never trusted. */
  reportedAnomaly: boolean | null;
  /** The producer's `reading_id` (a UUID) or `null` when absent. */
  readingId: string | null;
}

/** The verdict of {@link validateMessage}: a reading, or every reason it was rejected. */
export type Verdict =
  | { ok: true; reading: Reading }
  | { ok: false; reasons: Rejection[] };

/** The limits the validator applies; {@link DEFAULT_LIMITS} documents each default. */
export interface ValidationLimits {
  /** Largest accepted message value in bytes, checked before decoding. */
  maxMessageBytes: number;
  /** Lowest heart rate a human heart can produce, in bpm (inclusive). */
  minHeartRate: number;
  /** Highest heart rate a human heart can produce, in bpm (inclusive). */
  maxHeartRate: number;
  /** How far in the future (device clock skew) a timestamp may lie, in milliseconds. */
  futureSkewMs: number;
  /** Longest accepted customer_id, in characters. */
  maxCustomerIdLength: number;
}

/** Defaults: 16 KiB messages, 20–300 bpm, 5 minutes of clock skew, 64-character customer ids. */
export const DEFAULT_LIMITS: Readonly<ValidationLimits> = Object.freeze({
  maxMessageBytes: 16_384,
  minHeartRate: 20,
  maxHeartRate: 300,
  futureSkewMs: 300_000,
  maxCustomerIdLength: 64,
});

/** Characters allowed in a customer_id: letters, digits and `_ . : -`, starting with a letter or digit. */
export const CUSTOMER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/**
 * Calls `onKey` with the bounds of each key of a JSON text's top-level object (`start` after its
 * opening quote, `end` at its closing one, `escaped` when it holds a backslash escape), in order,
 * until `onKey` returns true; returns whether it did. The text must be valid JSON whose top-level
 * value is an object.
 */
function scanTopLevelKeys(
  json: string,
  onKey: (json: string, start: number, end: number, escaped: boolean) => boolean,
): boolean {
  let depth = 0;
  // strings are skipped with indexOf (native); the first backslash at or after a string's start
  // is looked up again only once a string passed it, so the scan stays linear
  let backslash = json.indexOf("\\");
  if (backslash === -1) backslash = json.length;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i + 1;
      let escaped = false;
      if (backslash < start) {
        backslash = json.indexOf("\\", start);
        if (backslash === -1) backslash = json.length;
      }
      i = json.indexOf('"', start);
      if (i === -1) return false;
      if (backslash < i) {
        // an escape inside: walk this string character by character
        escaped = true;
        for (i = start; i < json.length; i++) {
          const d = json.charCodeAt(i);
          if (d === 0x5c /* \ */) i++;
          else if (d === 0x22) break;
        }
        backslash = json.indexOf("\\", i + 1);
        if (backslash === -1) backslash = json.length;
      }
      if (depth !== 1) continue;
      let j = i + 1;
      while (j < json.length && isJsonSpace(json.charCodeAt(j))) j++;
      if (json.charCodeAt(j) !== 0x3a /* : */) continue;
      if (onKey(json, start, i, escaped)) return true;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) depth++;
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return false;
}

/** Key bounds of {@link mayRepeatTopLevelKeys}: start and end of each key, reused across calls. */
let keyBounds = new Int32Array(32);
let keyCount = 0;

/** {@link mayRepeatTopLevelKeys}' key callback: true when the key has an escape or was seen. */
function repeatsKey(json: string, start: number, end: number, escaped: boolean): boolean {
  if (escaped) return true;
  const length = end - start;
  for (let k = 0; k < keyCount; k++) {
    const s = keyBounds[2 * k]!;
    if (keyBounds[2 * k + 1]! - s !== length) continue;
    let same = true;
    for (let m = 0; m < length; m++) {
      if (json.charCodeAt(s + m) !== json.charCodeAt(start + m)) {
        same = false;
        break;
      }
    }
    if (same) return true;
  }
  if (2 * keyCount + 2 > keyBounds.length) {
    const grown = new Int32Array(keyBounds.length * 2);
    grown.set(keyBounds);
    keyBounds = grown;
  }
  keyBounds[2 * keyCount] = start;
  keyBounds[2 * keyCount + 1] = end;
  keyCount++;
  return false;
}

/**
 * Whether a JSON text's top-level object may have a key twice: false means it has none; true
 * means {@link duplicateTopLevelKeys} has to say which (a key with an escape counts as a repeat).
 * Allocates nothing (this runs for every message), where {@link duplicateTopLevelKeys} builds the
 * keys as strings. The text must be valid JSON whose top-level value is an object.
 */
export function mayRepeatTopLevelKeys(json: string): boolean {
  keyCount = 0;
  return scanTopLevelKeys(json, repeatsKey);
}

/**
 * Lists the keys of a JSON text's top-level object that appear more than once. `JSON.parse` keeps
 * the last of duplicated keys silently; the contract rejects such messages instead.
 * The text must be valid JSON whose top-level value is an object.
 */
export function duplicateTopLevelKeys(json: string): string[] {
  const seen: string[] = []; // a handful of keys: a linear scan beats a Set
  const dupes: string[] = [];
  scanTopLevelKeys(json, (text, start, end, escaped) => {
    const key = escaped ? JSON.parse(text.slice(start - 1, end + 1)) as string : text.slice(start, end);
    if (seen.includes(key)) dupes.push(key);
    else seen.push(key);
    return false;
  });
  return dupes;
}

const NO_KEYS: readonly string[] = Object.freeze([]);

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

type IssueParams = { reason: ReasonCode };

/**
 * Builds the zod schema of one reading's JSON object for the given limits. The schema is the
 * contract in code; {@link createValidator} maps its issues to {@link Rejection}s.
 */
export function readingSchema(limits: ValidationLimits, now: () => number) {
  const reason = (code: ReasonCode) => ({ params: { reason: code } satisfies IssueParams });
  return z.object({
    customer_id: z.string()
      .min(1, { message: "customer_id is empty", ...reason("customer_id_invalid") })
      .max(limits.maxCustomerIdLength, {
        message: `customer_id is longer than ${limits.maxCustomerIdLength} characters`,
        ...reason("customer_id_invalid"),
      })
      .regex(CUSTOMER_ID_PATTERN, {
        message: "customer_id has characters outside letters, digits and _ . : -",
        ...reason("customer_id_invalid"),
      }),
    timestamp: z.string().transform((text, ctx) => {
      const parsed = parseTimestamp(text);
      if ("code" in parsed) {
        ctx.addIssue({ code: "custom", message: parsed.detail, params: { reason: parsed.code } });
        return z.NEVER;
      }
      if (parsed.epochMs > now() + limits.futureSkewMs) {
        ctx.addIssue({
          code: "custom",
          message: `timestamp ${text} is more than ${limits.futureSkewMs / 1000} s in the future`,
          params: { reason: "timestamp_in_future" },
        });
        return z.NEVER;
      }
      return parsed;
    }),
    heart_rate: z.number()
      .min(limits.minHeartRate, {
        message: `heart_rate is below ${limits.minHeartRate} bpm`,
        ...reason("heart_rate_out_of_range"),
      })
      .max(limits.maxHeartRate, {
        message: `heart_rate is above ${limits.maxHeartRate} bpm`,
        ...reason("heart_rate_out_of_range"),
      }),
    is_anomaly: z.boolean().optional(),
    reading_id: z.uuid({ message: "reading_id is not a UUID", ...reason("reading_id_invalid") })
      .optional(),
  });
}

/**
 * A function that judges one Kafka message value; see {@link createValidator}. `text`, when
 * given, must be `value` decoded as UTF-8 (as {@link decodeAsciiValues} gives it); without it the
 * validator decodes `value` itself.
 */
export type Validator = (value: Uint8Array | null, text?: string) => Verdict;

const ascii = new TextDecoder("utf-8");

/**
 * The texts of a batch's values that are ASCII only (where UTF-8 and ASCII agree), decoded in one
 * call instead of one per message (a call costs more than a short message's decoding); `undefined`
 * for a null or empty value and for one with any other byte, which the validator then decodes
 * (and judges) on its own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeAsciiValues } from "./reading.ts";
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * assert.deepEqual(decodeAsciiValues([bytes('{"a":1}'), null, bytes("é"), bytes("[]")]), ['{"a":1}', undefined, undefined, "[]"]);
 * ```
 */
export function decodeAsciiValues(values: readonly (Uint8Array | null)[]): (string | undefined)[] {
  let size = 0;
  for (const value of values) size += value?.byteLength ?? 0;
  const block = new Uint8Array(size);
  const bounds = new Int32Array(values.length * 2);
  let at = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    bounds[2 * i] = bounds[2 * i + 1] = -1;
    if (value === null || value === undefined || value.byteLength === 0) continue;
    let high = false;
    for (let k = 0; k < value.length; k++) {
      if (value[k]! >= 0x80) {
        high = true;
        break;
      }
    }
    if (high) continue;
    block.set(value, at);
    bounds[2 * i] = at;
    bounds[2 * i + 1] = at += value.byteLength;
  }
  const text = ascii.decode(block.subarray(0, at));
  const texts = new Array<string | undefined>(values.length);
  for (let i = 0; i < values.length; i++) {
    texts[i] = bounds[2 * i]! < 0 ? undefined : text.substring(bounds[2 * i]!, bounds[2 * i + 1]!);
  }
  return texts;
}

/**
 * Creates the validator the consumer runs on every message: size, UTF-8, JSON, object shape,
 * duplicate keys, then the zod schema. It never throws, whatever the bytes.
 *
 * @param limits the limits to apply (defaults: {@link DEFAULT_LIMITS})
 * @param now the clock for the future-timestamp rule (defaults to `Date.now`)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createValidator } from "./reading.ts";
 * const validate = createValidator();
 * const verdict = validate(new TextEncoder().encode(
 *   '{"customer_id":"CUST-001","timestamp":"2026-01-01T00:00:00Z","heart_rate":55}',
 * ));
 * assert.ok(verdict.ok);
 * assert.equal(verdict.reading.recordedAt, "2026-01-01T00:00:00.000000Z");
 * assert.equal(verdict.reading.isAnomaly, true);
 * assert.equal(verdict.reading.category, "bradycardia");
 * ```
 */
export function createValidator(
  limits: Partial<ValidationLimits> = {},
  now: () => number = Date.now,
): Validator {
  const l: ValidationLimits = { ...DEFAULT_LIMITS, ...limits };
  const schema = readingSchema(l, now);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const reject = (code: ReasonCode, detail: string, field?: string): Verdict => ({
    ok: false,
    reasons: [field === undefined ? { code, detail } : { code, field, detail }],
  });

  return (value, known) => {
    if (value === null || value.byteLength === 0) {
      return reject("empty", value === null ? "message has no value (tombstone)" : "message is empty");
    }
    if (value.byteLength > l.maxMessageBytes) {
      return reject(
        "too_large",
        `message is ${value.byteLength} bytes, over the ${l.maxMessageBytes}-byte limit`,
      );
    }
    let text: string;
    if (known !== undefined) text = known;
    else {
      try {
        text = decoder.decode(value);
      } catch {
        return reject("not_utf8", "message is not valid UTF-8");
      }
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return reject("not_json", `message is not JSON: ${why.slice(0, 120)}`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      return reject("not_object", `message is JSON ${typeName(json)}, not an object`);
    }
    const dupes = mayRepeatTopLevelKeys(text) ? duplicateTopLevelKeys(text) : NO_KEYS;
    if (dupes.length > 0) {
      return {
        ok: false,
        reasons: dupes.map((key) => ({
          code: "duplicate_key",
          field: key,
          detail: `key ${quote(key)} appears more than once`,
        })),
      };
    }
    const result = schema.safeParse(json);
    if (result.success) {
      const { customer_id, timestamp, heart_rate, is_anomaly, reading_id } = result.data;
      return {
        ok: true,
        reading: {
          customerId: customer_id,
          recordedAt: timestamp.iso,
          recordedAtMs: timestamp.epochMs,
          heartRate: heart_rate,
          isAnomaly: isAnomalous(heart_rate),
          category: classify(heart_rate),
          reportedAnomaly: is_anomaly ?? null,
          readingId: reading_id === undefined ? null : reading_id.toLowerCase(),
        },
      };
    }
    const obj = json as Record<string, unknown>;
    const reasons: Rejection[] = [];
    for (const issue of result.error.issues) {
      const r = toRejection(issue, obj);
      // one reason per (code, field): an empty customer_id breaks two rules but is one problem
      if (!reasons.some((x) => x.code === r.code && x.field === r.field)) reasons.push(r);
    }
    return { ok: false, reasons };
  };
}

function toRejection(issue: z.core.$ZodIssue, obj: Record<string, unknown>): Rejection {
  const field = String(issue.path[0] ?? "");
  const value = obj[field];
  if (issue.code === "invalid_type") {
    if (!(field in obj) || value === undefined) {
      return { code: "missing_field", field, detail: `${field} is missing` };
    }
    if (value === null) return { code: "null_field", field, detail: `${field} is null` };
    if (typeof value === "number" && field === "heart_rate") {
      return { code: "heart_rate_out_of_range", field, detail: `heart_rate ${value} is not finite` };
    }
    return {
      code: "wrong_type",
      field,
      detail: `${field} must be a ${issue.expected}, got ${typeName(value)} ${quote(value)}`,
    };
  }
  const params = (issue as { params?: Partial<IssueParams> }).params;
  const code: ReasonCode = params?.reason ?? fallbackCode(field);
  const detail = code === "timestamp_unparsable" || code === "timestamp_without_timezone" ||
      code === "timestamp_in_future"
    ? issue.message
    : `${issue.message}: ${quote(value)}`;
  return { code, field, detail };
}

function fallbackCode(field: string): ReasonCode {
  switch (field) {
    case "customer_id":
      return "customer_id_invalid";
    case "heart_rate":
      return "heart_rate_out_of_range";
    case "reading_id":
      return "reading_id_invalid";
    default:
      return "timestamp_unparsable";
  }
}
