/**
 * Timestamps as the contract takes them: ISO 8601 / RFC 3339 with a timezone, normalised to UTC
 * with microseconds (what PostgreSQL stores), and the digit reader the binary encoder shares.
 *
 * @module
 */

/** Why a timestamp is refused: a reason code of the contract and a one-line detail. */
export interface TimestampProblem {
  /** `timestamp_unparsable` or `timestamp_without_timezone`. */
  code: "timestamp_unparsable" | "timestamp_without_timezone";
  /** A one-line human explanation quoting the text. */
  detail: string;
}

const TIMESTAMP_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

/** 10000-01-01T00:00:00Z: later times cannot be written as `yyyy-mm-dd` (`9999-12-31T23:30-01:00` is one). */
const LATEST_UTC_MS = Date.UTC(10000, 0, 1);

/** A timestamp parsed by {@link parseTimestamp}. */
export interface ParsedTimestamp {
  /** Epoch milliseconds, with the sub-millisecond part as a fraction. */
  epochMs: number;
  /** UTC ISO 8601 with exactly six fractional digits, e.g. `2026-11-25T19:57:57.123456Z`. */
  iso: string;
}

/**
 * Parses an ISO 8601 / RFC 3339 timestamp that carries a timezone (`Z` or `±hh:mm`).
 * Fractions beyond microseconds are truncated, as PostgreSQL stores microseconds.
 *
 * @returns the parsed time, or the reason code and detail explaining why it is not acceptable.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTimestamp } from "./timestamp.ts";
 * assert.deepEqual(
 *   parseTimestamp("2026-11-25T20:57:57.5+01:00"),
 *   { epochMs: 1795636677500, iso: "2026-11-25T19:57:57.500000Z" },
 * );
 * ```
 */
export function parseTimestamp(text: string): ParsedTimestamp | TimestampProblem {
  return parseCanonical(text) ?? parseTimestampGeneral(text);
}

/**
 * The fast path for the form producers send (`2026-11-25T19:57:57.123456Z`, any fraction length,
 * `Z` or `±hh:mm`) with valid fields; anything else, or anything wrong, goes to the general parser
 * so that every error message comes from one place.
 */
function parseCanonical(text: string): ParsedTimestamp | null {
  if (text.length < 20 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 84) {
    return null;
  }
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return null;
  const year = digitsAt(text, 0, 4), month = digitsAt(text, 5, 2), day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2), minute = digitsAt(text, 14, 2), second = digitsAt(text, 17, 2);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return null;
  let i = 19, micros = 0, fracDigits = 0;
  if (text.charCodeAt(i) === 46) {
    for (i++; i < text.length; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      if (fracDigits < 6) micros = micros * 10 + d;
      fracDigits++;
    }
    if (fracDigits === 0 || fracDigits > 9) return null;
    for (let k = fracDigits; k < 6; k++) micros *= 10;
  }
  let offsetMs = 0;
  const z = text.charCodeAt(i);
  if (z === 90 && i === text.length - 1) offsetMs = 0;
  else if ((z === 43 || z === 45) && i === text.length - 6 && text.charCodeAt(i + 3) === 58) {
    const oh = digitsAt(text, i + 1, 2), om = digitsAt(text, i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return null;
    offsetMs = (z === 45 ? -1 : 1) * (oh * 60 + om) * 60_000;
  } else return null;
  const wholeMs = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMs;
  if (wholeMs >= LATEST_UTC_MS) return null;
  // already canonical (what the simulator sends): keep the parsed string itself, one flat string,
  // rather than a new one built of pieces (what the sink keeps per queued reading)
  if (z === 90 && fracDigits === 6) return { epochMs: wholeMs + micros / 1000, iso: text };
  const micros6 = String(micros).padStart(6, "0");
  const iso = offsetMs === 0
    ? `${text.slice(0, 19)}.${micros6}Z`
    : `${new Date(wholeMs).toISOString().slice(0, 19)}.${micros6}Z`;
  return { epochMs: wholeMs + micros / 1000, iso };
}

/**
 * The general (regular-expression) timestamp parser: every form {@link parseTimestamp} accepts,
 * and every refusal's detail. {@link parseTimestamp} tries a fast path for the canonical form
 * first; a property test holds the two to the same answers.
 */
export function parseTimestampGeneral(text: string): ParsedTimestamp | TimestampProblem {
  const m = TIMESTAMP_PATTERN.exec(text);
  if (m === null) {
    return { code: "timestamp_unparsable", detail: `timestamp ${quote(text)} is not ISO 8601` };
  }
  const [, ys, mos, ds, hs, mis, ss, frac, zulu, sign, ohs, oms] = m;
  if (zulu === undefined && sign === undefined) {
    return {
      code: "timestamp_without_timezone",
      detail: `timestamp ${quote(text)} has no timezone (add Z or an offset like +00:00)`,
    };
  }
  const year = Number(ys), month = Number(mos), day = Number(ds);
  const hour = Number(hs), minute = Number(mis), second = Number(ss ?? "0");
  const offH = Number(ohs ?? "0"), offM = Number(oms ?? "0");
  const bad = (what: string) => ({
    code: "timestamp_unparsable" as const,
    detail: `timestamp ${quote(text)} has an impossible ${what}`,
  });
  if (year < 1970 || year > 9999) return bad("year (before 1970)");
  if (month < 1 || month > 12) return bad("month");
  if (day < 1 || day > daysInMonth(year, month)) return bad("day");
  if (hour > 23) return bad("hour");
  if (minute > 59) return bad("minute");
  if (second > 59) return bad("second");
  if (offH > 23 || offM > 59) return bad("UTC offset");
  const micros6 = frac === undefined ? "000000" : frac.length >= 6 ? frac.slice(0, 6) : frac.padEnd(6, "0");
  const micros = Number(micros6);
  const offsetMs = (sign === "-" ? -1 : 1) * (offH * 60 + offM) * 60_000;
  const wholeMs = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMs;
  if (wholeMs >= LATEST_UTC_MS) return bad("year (after 9999 in UTC)");
  const epochMs = wholeMs + micros / 1000;
  if (offsetMs === 0) {
    // already UTC (the common case): the normalised form is the input's own digits
    return { epochMs, iso: `${ys}-${mos}-${ds}T${hs}:${mis}:${ss ?? "00"}.${micros6}Z` };
  }
  const utc = new Date(wholeMs).toISOString(); // yyyy-mm-ddThh:mm:ss.000Z
  return { epochMs, iso: `${utc.slice(0, 19)}.${micros6}Z` };
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS_IN_MONTH[month - 1]!;
}

/** Shortens and JSON-quotes a value for a reason's detail, so details stay one short line. */
export function quote(value: unknown): string {
  let text: string;
  try {
    text = typeof value === "string" ? JSON.stringify(value) : String(JSON.stringify(value));
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Reads `n` ASCII digits at `i`, or -1 when any is not a digit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { digitsAt } from "./timestamp.ts";
 * assert.equal(digitsAt("2026-11-25", 5, 2), 11);
 * assert.equal(digitsAt("2026-1x-25", 5, 2), -1); // not all digits
 * ```
 */
export function digitsAt(text: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = text.charCodeAt(i + k) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}
