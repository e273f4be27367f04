import assert from "node:assert/strict";
import fc from "fast-check";
import {
  createValidator,
  CUSTOMER_ID_PATTERN,
  decodeAsciiValues,
  DEFAULT_LIMITS,
  duplicateTopLevelKeys,
  mayRepeatTopLevelKeys,
  REASON_CODES,
  type Verdict,
} from "./reading.ts";
import { parseTimestamp, parseTimestampGeneral } from "./timestamp.ts";

/** The fixed clock of these tests: 2026-01-01T00:00:00Z. */
const NOW = Date.UTC(2026, 0, 1);
const validate = createValidator({}, () => NOW);
const encoder = new TextEncoder();
const RECORDED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** A valid customer id: a letter or digit, then up to 63 of letters, digits and `_ . : -`. */
const validCustomerId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/);

/** A heart rate within the default limits, integer or not. */
const validHeartRate = fc.oneof(
  fc.integer({ min: DEFAULT_LIMITS.minHeartRate, max: DEFAULT_LIMITS.maxHeartRate }),
  fc.double({ min: DEFAULT_LIMITS.minHeartRate, max: DEFAULT_LIMITS.maxHeartRate, noNaN: true }),
  fc.constantFrom(20, 59, 59.9, 60, 100, 100.1, 101, 300),
);

/**
 * A valid timestamp text (a past instant written in a random zone, with 0..9 fractional digits)
 * and the instant it denotes, as whole epoch ms plus the fractional digits kept.
 */
const validTimestamp = fc.record({
  utcMs: fc.integer({ min: Date.UTC(1971, 0, 1), max: NOW }),
  subMs: fc.integer({ min: 0, max: 999_999 }),
  digits: fc.integer({ min: 0, max: 9 }),
  offsetMin: fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
  zone: fc.constantFrom("colon", "compact", "z"),
}).map(({ utcMs, subMs, digits, offsetMin, zone }) => {
  const offset = zone === "z" ? 0 : offsetMin;
  const local = new Date(utcMs + offset * 60_000).toISOString(); // yyyy-mm-ddThh:mm:ss.mmmZ
  const fraction = `${local.slice(20, 23)}${pad(subMs, 6)}`.slice(0, digits);
  const sign = offset < 0 ? "-" : "+";
  const abs = Math.abs(offset);
  const zoneText = zone === "z"
    ? "Z"
    : `${sign}${pad(Math.floor(abs / 60))}${zone === "colon" ? ":" : ""}${pad(abs % 60)}`;
  const text = `${local.slice(0, 19)}${digits > 0 ? `.${fraction}` : ""}${zoneText}`;
  const micros = Number((fraction + "000000").slice(0, 6));
  const wholeSecondMs = Math.floor(utcMs / 1000) * 1000;
  return { text, expectedMs: wholeSecondMs + micros / 1000 };
});

/** A reading object in the contract's shape, every field valid. */
const validReading = fc.record({
  customer_id: validCustomerId,
  timestamp: validTimestamp,
  heart_rate: validHeartRate,
  is_anomaly: fc.option(fc.boolean(), { nil: undefined }),
  extra: fc.option(fc.jsonValue(), { nil: undefined }),
});

/** Mostly `valid`, sometimes `invalid`, sometimes absent (undefined is dropped by JSON.stringify). */
function mostly<T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) {
  return fc.oneof(
    { arbitrary: valid, weight: 6 },
    { arbitrary: invalid, weight: 2 },
    { arbitrary: fc.constant(undefined), weight: 1 },
  );
}

/** Messages that are often nearly valid: each field valid, invalid, absent or of another type. */
const nearlyValidMessage = fc.record({
  customer_id: mostly(
    validCustomerId,
    fc.oneof(fc.string(), fc.constantFrom("", "a".repeat(65), "CUST 1"), fc.jsonValue()),
  ),
  timestamp: mostly(validTimestamp.map((t) => t.text), fc.oneof(fc.string(), fc.date().map((d) => d.toString()))),
  heart_rate: mostly(validHeartRate, fc.oneof(fc.double(), fc.integer(), fc.jsonValue())),
  is_anomaly: mostly(fc.boolean(), fc.jsonValue()),
  reading_id: mostly(fc.uuid(), fc.string()),
}).map((o) => JSON.stringify(o));

const anyMessage = fc.oneof(
  nearlyValidMessage.map((s) => encoder.encode(s)),
  fc.uint8Array({ maxLength: 2_000 }),
  fc.string({ unit: "binary" }).map((s) => encoder.encode(s)),
);

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function assertVerdictShape(verdict: Verdict): void {
  assert.equal(typeof verdict.ok, "boolean");
  if (!verdict.ok) {
    assert.ok(verdict.reasons.length >= 1, "a rejection has at least one reason");
    for (const r of verdict.reasons) {
      assert.ok((REASON_CODES as readonly string[]).includes(r.code), `unknown reason code ${r.code}`);
      assert.equal(typeof r.detail, "string");
      assert.notEqual(r.detail, "");
    }
  }
}

Deno.test("createValidator() returns a verdict and never throws, whatever the bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 20_000, size: "max" }), (value) => {
      const verdict = validate(value);
      assertVerdictShape(verdict);
      if (value.byteLength > DEFAULT_LIMITS.maxMessageBytes) {
        assert.deepEqual(verdict.ok ? [] : verdict.reasons.map((r) => r.code), ["too_large"]);
      }
    }),
    { numRuns: 500 },
  );
});

Deno.test("createValidator() never throws on any JSON value or object", () => {
  fc.assert(
    fc.property(fc.oneof(fc.jsonValue(), fc.object()), (value) => {
      const text = JSON.stringify(value);
      if (text === undefined) return; // e.g. a lone undefined has no JSON text
      assertVerdictShape(validate(bytes(text)));
    }),
    { numRuns: 1000 },
  );
});

Deno.test("createValidator() accepts only readings that satisfy every rule", () => {
  let accepted = 0;
  fc.assert(
    fc.property(anyMessage, (value) => {
      const verdict = validate(value);
      if (!verdict.ok) return;
      accepted++;
      const r = verdict.reading;
      assert.ok(r.heartRate >= DEFAULT_LIMITS.minHeartRate && r.heartRate <= DEFAULT_LIMITS.maxHeartRate);
      assert.ok(Number.isFinite(r.heartRate));
      assert.match(r.customerId, CUSTOMER_ID_PATTERN);
      assert.ok(r.customerId.length >= 1 && r.customerId.length <= DEFAULT_LIMITS.maxCustomerIdLength);
      assert.equal(r.isAnomaly, r.heartRate < 60 || r.heartRate > 100);
      assert.match(r.recordedAt, RECORDED_AT);
      assert.ok(r.recordedAtMs <= NOW + DEFAULT_LIMITS.futureSkewMs);
      assert.equal(Math.floor(r.recordedAtMs), Date.parse(r.recordedAt));
      assert.ok(value.byteLength <= DEFAULT_LIMITS.maxMessageBytes);
    }),
    { numRuns: 2000 },
  );
  assert.ok(accepted >= 20, `only ${accepted} generated messages were accepted; the property proved little`);
});

Deno.test("createValidator() gives every rejection a known reason code and a detail", () => {
  let rejected = 0;
  fc.assert(
    fc.property(anyMessage, (value) => {
      const verdict = validate(value);
      if (verdict.ok) return;
      rejected++;
      assertVerdictShape(verdict);
    }),
    { numRuns: 2000 },
  );
  assert.ok(rejected > 0);
});

Deno.test("createValidator() accepts every valid reading and round-trips its fields", () => {
  fc.assert(
    fc.property(validReading, fc.option(fc.uuid(), { nil: undefined }), (reading, readingId) => {
      const text = JSON.stringify({ ...reading, timestamp: reading.timestamp.text, reading_id: readingId });
      const verdict = validate(bytes(text));
      if (!verdict.ok) assert.fail(`${text} was rejected: ${JSON.stringify(verdict.reasons)}`);
      const r = verdict.reading;
      assert.equal(r.customerId, reading.customer_id);
      assert.equal(r.heartRate, reading.heart_rate);
      assert.equal(r.isAnomaly, reading.heart_rate < 60 || reading.heart_rate > 100);
      assert.equal(r.reportedAnomaly, reading.is_anomaly ?? null);
      assert.equal(r.readingId, readingId?.toLowerCase() ?? null);
      assert.match(r.recordedAt, RECORDED_AT);
      assert.ok(Math.abs(r.recordedAtMs - Date.parse(reading.timestamp.text)) < 1, reading.timestamp.text);
      assert.ok(Math.abs(r.recordedAtMs - reading.timestamp.expectedMs) < 1e-3, reading.timestamp.text);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("parseTimestamp() either refuses a timestamp or returns a UTC microsecond ISO string for the same instant", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1960, max: 9999 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 24 }),
      fc.integer({ min: 0, max: 60 }),
      fc.integer({ min: -24 * 60, max: 24 * 60 }),
      (year, month, day, hour, second, offsetMin) => {
        const sign = offsetMin < 0 ? "-" : "+";
        const abs = Math.abs(offsetMin);
        const text = `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(hour)}:07:${pad(second)}.123456789` +
          `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
        const parsed = parseTimestamp(text);
        if ("code" in parsed) {
          assert.equal(parsed.code, "timestamp_unparsable");
          assert.notEqual(parsed.detail, "");
          return;
        }
        assert.match(parsed.iso, RECORDED_AT);
        assert.equal(Math.floor(parsed.epochMs), Date.parse(parsed.iso));
        assert.equal(Math.floor(parsed.epochMs), Date.parse(text));
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("parseTimestamp()'s fast path agrees with the general parser on every well-formed timestamp", () => {
  const pad = (n: number, w: number) => String(n).padStart(w, "0");
  fc.assert(
    fc.property(
      fc.integer({ min: 1970, max: 9999 }),
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 31 }),
      fc.integer({ min: 0, max: 23 }),
      fc.integer({ min: 0, max: 59 }),
      fc.integer({ min: 0, max: 59 }),
      fc.option(fc.stringMatching(/^[0-9]{1,9}$/), { nil: undefined }),
      fc.oneof(
        fc.constant("Z"),
        fc.tuple(fc.constantFrom("+", "-"), fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 })).map((
          [s, h, m],
        ) => `${s}${pad(h, 2)}:${pad(m, 2)}`),
      ),
      (y, mo, d, h, mi, se, frac, zone) => {
        const text = `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(se, 2)}${
          frac === undefined ? "" : "." + frac
        }${zone}`;
        assert.deepEqual(parseTimestamp(text), parseTimestampGeneral(text), text);
      },
    ),
    { numRuns: 3000 },
  );
});

Deno.test("mayRepeatTopLevelKeys() is false only when duplicateTopLevelKeys() finds none, and exact without escapes", () => {
  // few distinct keys (escaped forms included) so that repeats are common; nested objects too
  const key = fc.constantFrom("a", "b", "ab", "a\\u0062", '\\"', "\\\\", "é", "");
  const value: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
    v: fc.oneof(
      { depthSize: "small" },
      fc.constantFrom("1", "null", '"x"', '"}{"', '"\\":"'),
      fc.array(fc.tuple(key, tie("v")), { maxLength: 3 }).map((kv) =>
        `{${kv.map(([k, v]) => `"${k}":${v}`).join(",")}}`
      ),
      fc.array(tie("v"), { maxLength: 3 }).map((vs) => `[${vs.join(",")}]`),
    ),
  })).v;
  fc.assert(
    fc.property(fc.array(fc.tuple(key, value), { maxLength: 8 }), (pairs) => {
      const json = `{${pairs.map(([k, v]) => `"${k}" : ${v}`).join(",")}}`;
      JSON.parse(json);
      const dupes = duplicateTopLevelKeys(json);
      const may = mayRepeatTopLevelKeys(json);
      if (dupes.length > 0) assert.equal(may, true, json);
      if (!pairs.some(([k]) => k.includes("\\"))) assert.equal(may, dupes.length > 0, json);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("decodeAsciiValues() decodes each ASCII value as TextDecoder does, leaves the others to the validator, and the verdicts are the same either way", () => {
  const utf8 = new TextDecoder("utf-8");
  const value = fc.oneof(
    fc.constant(null),
    fc.uint8Array({ maxLength: 40 }),
    fc.uint8Array({ max: 0x7f, maxLength: 40 }),
    fc.string({ maxLength: 40 }).map((t) => encoder.encode(t)),
    fc.constantFrom('{"customer_id":"CUST-001","timestamp":"2026-01-01T00:00:00Z","heart_rate":70}')
      .map((t) => encoder.encode(t)),
  );
  fc.assert(
    fc.property(fc.array(value, { maxLength: 12 }), (values) => {
      const texts = decodeAsciiValues(values);
      assert.equal(texts.length, values.length);
      values.forEach((v, i) => {
        const ascii = v !== null && v.byteLength > 0 && v.every((b) => b < 0x80);
        assert.equal(texts[i], ascii ? utf8.decode(v) : undefined);
        assert.deepEqual(validate(v, texts[i]), validate(v));
      });
    }),
    { numRuns: 1000 },
  );
});
