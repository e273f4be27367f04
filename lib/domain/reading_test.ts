import assert from "node:assert/strict";
import {
  createValidator,
  CUSTOMER_ID_PATTERN,
  DEFAULT_LIMITS,
  duplicateTopLevelKeys,
  mayRepeatTopLevelKeys,
  REASON_CODES,
  type ReasonCode,
  type Verdict,
} from "./reading.ts";
import { ANOMALY_ABOVE_BPM, ANOMALY_BELOW_BPM, isAnomalous } from "./heart_rate.ts";
import { parseTimestamp } from "./timestamp.ts";

/** The fixed clock of these tests: 2026-01-01T00:00:00Z. */
const NOW = Date.UTC(2026, 0, 1);
const validate = createValidator({}, () => NOW);
const encoder = new TextEncoder();

/** Raw JSON fragments of a valid message; `message()` overrides or drops (undefined) any of them. */
const BASE: Record<string, string> = {
  customer_id: '"CUST-001"',
  timestamp: '"2025-06-01T12:00:00Z"',
  heart_rate: "72",
};

function message(fields: Record<string, string | undefined> = {}): string {
  const all: Record<string, string | undefined> = { ...BASE, ...fields };
  const parts = Object.entries(all).filter(([, v]) => v !== undefined).map(([k, v]) => `${JSON.stringify(k)}:${v}`);
  return `{${parts.join(",")}}`;
}

function check(value: string | Uint8Array | null, v = validate): Verdict {
  return v(typeof value === "string" ? encoder.encode(value) : value);
}

function codes(verdict: Verdict): ReasonCode[] {
  return verdict.ok ? [] : verdict.reasons.map((r) => r.code);
}

function accepted(verdict: Verdict) {
  if (!verdict.ok) assert.fail(`expected the message to be accepted, got ${JSON.stringify(verdict.reasons)}`);
  return verdict.reading;
}

/** A message whose JSON text is exactly `bytes` bytes long (ASCII padding in an unknown field). */
function messageOfSize(bytes: number): string {
  const empty = message({ padding: '""' });
  const text = message({ padding: JSON.stringify("x".repeat(bytes - empty.length)) });
  assert.equal(encoder.encode(text).byteLength, bytes);
  return text;
}

Deno.test("REASON_CODES lists each reason code once", () => {
  assert.equal(new Set(REASON_CODES).size, REASON_CODES.length);
});

Deno.test("createValidator() accepts a well-formed message and normalises it", () => {
  const reading = accepted(check(message({
    is_anomaly: "false",
    reading_id: '"019ABF3C-1D2E-7A00-8000-000000000001"',
  })));
  assert.deepEqual(reading, {
    customerId: "CUST-001",
    recordedAt: "2025-06-01T12:00:00.000000Z",
    recordedAtMs: Date.UTC(2025, 5, 1, 12),
    heartRate: 72,
    isAnomaly: false,
    category: "normal",
    reportedAnomaly: false,
    readingId: "019abf3c-1d2e-7a00-8000-000000000001",
  });
});

Deno.test("createValidator() reports absent optional fields as null", () => {
  const reading = accepted(check(message()));
  assert.equal(reading.reportedAnomaly, null);
  assert.equal(reading.readingId, null);
});

Deno.test("createValidator() accepts unknown extra fields and ignores them", () => {
  const reading = accepted(check(message({ device: '"watch-7"', extra: '{"nested":[1,{"a":null}]}', n: "1e400" })));
  assert.equal(reading.customerId, "CUST-001");
  assert.equal(Object.hasOwn(reading, "device"), false);
});

Deno.test("createValidator() checks heart_rate against the default 20..300 bpm limits, inclusive", async (t) => {
  const rows: { raw: string; ok: boolean }[] = [
    { raw: "-5", ok: false },
    { raw: "0", ok: false },
    { raw: "19.999", ok: false },
    { raw: "20", ok: true },
    { raw: "20.0", ok: true },
    { raw: "72.5", ok: true },
    { raw: "300", ok: true },
    { raw: "300.001", ok: false },
    { raw: "301", ok: false },
    { raw: "1e400", ok: false },
    { raw: "-1e400", ok: false },
  ];
  for (const { raw, ok } of rows) {
    await t.step(`heart_rate ${raw} is ${ok ? "accepted" : "rejected as heart_rate_out_of_range"}`, () => {
      const verdict = check(message({ heart_rate: raw }));
      if (ok) assert.equal(accepted(verdict).heartRate, Number(raw));
      else assert.deepEqual(codes(verdict), ["heart_rate_out_of_range"]);
    });
  }
});

Deno.test("createValidator() applies custom heart-rate limits", () => {
  const v = createValidator({ minHeartRate: 30, maxHeartRate: 220 }, () => NOW);
  assert.deepEqual(codes(check(message({ heart_rate: "29.9" }), v)), ["heart_rate_out_of_range"]);
  assert.equal(accepted(check(message({ heart_rate: "30" }), v)).heartRate, 30);
  assert.equal(accepted(check(message({ heart_rate: "220" }), v)).heartRate, 220);
  assert.deepEqual(codes(check(message({ heart_rate: "221" }), v)), ["heart_rate_out_of_range"]);
});

Deno.test("createValidator() rejects an infinite heart rate (1e400) with a detail saying it is not finite", () => {
  const verdict = check(message({ heart_rate: "1e400" }));
  assert.equal(verdict.ok, false);
  if (!verdict.ok) assert.match(verdict.reasons[0]!.detail, /not finite/);
});

Deno.test("createValidator() computes is_anomaly below 60 and above 100 bpm, ignoring the producer's flag", async (t) => {
  const rows: { hr: number; anomaly: boolean }[] = [
    { hr: 20, anomaly: true },
    { hr: 59, anomaly: true },
    { hr: 59.9, anomaly: true },
    { hr: 60, anomaly: false },
    { hr: 80, anomaly: false },
    { hr: 100, anomaly: false },
    { hr: 100.1, anomaly: true },
    { hr: 101, anomaly: true },
    { hr: 300, anomaly: true },
  ];
  for (const { hr, anomaly } of rows) {
    await t.step(`${hr} bpm is ${anomaly ? "an anomaly" : "normal"}`, () => {
      assert.equal(isAnomalous(hr), anomaly);
      // the producer claims the opposite; the consumer computes its own
      const reading = accepted(check(message({ heart_rate: String(hr), is_anomaly: String(!anomaly) })));
      assert.equal(reading.isAnomaly, anomaly);
      assert.equal(reading.reportedAnomaly, !anomaly);
    });
  }
});

Deno.test("isAnomalous() uses thresholds 60 and 100 bpm, both normal", () => {
  assert.equal(ANOMALY_BELOW_BPM, 60);
  assert.equal(ANOMALY_ABOVE_BPM, 100);
  assert.equal(isAnomalous(ANOMALY_BELOW_BPM), false);
  assert.equal(isAnomalous(ANOMALY_ABOVE_BPM), false);
  assert.equal(isAnomalous(100.000001), true);
  assert.equal(isAnomalous(59.999999), true);
});

Deno.test("createValidator() accepts customer ids of letters, digits and _ . : - up to 64 characters", async (t) => {
  const rows: { id: string; ok: boolean }[] = [
    { id: "A", ok: true },
    { id: "9", ok: true },
    { id: "CUST-001", ok: true },
    { id: "cust_1.a:b-c", ok: true },
    { id: "C".repeat(64), ok: true },
    { id: "C".repeat(65), ok: false },
    { id: "", ok: false },
    { id: "-CUST", ok: false },
    { id: "_CUST", ok: false },
    { id: ".CUST", ok: false },
    { id: "CUST 001", ok: false },
    { id: " CUST", ok: false },
    { id: "CUST-001'; DROP TABLE readings;--", ok: false },
    { id: "CÜST", ok: false },
    { id: "CUST-\u0000-1", ok: false },
    { id: "CUST/001", ok: false },
    { id: "CUST-001\n", ok: false },
  ];
  for (const { id, ok } of rows) {
    await t.step(`customer_id ${JSON.stringify(id)} is ${ok ? "accepted" : "rejected as customer_id_invalid"}`, () => {
      const verdict = check(message({ customer_id: JSON.stringify(id) }));
      if (ok) assert.equal(accepted(verdict).customerId, id);
      else assert.deepEqual(codes(verdict), ["customer_id_invalid"]);
    });
  }
});

Deno.test("createValidator() reports an empty customer_id once, not once per broken rule", () => {
  const verdict = check(message({ customer_id: '""' }));
  assert.equal(verdict.ok, false);
  if (!verdict.ok) {
    assert.equal(verdict.reasons.length, 1);
    assert.equal(verdict.reasons[0]!.field, "customer_id");
  }
});

Deno.test("createValidator() applies a custom customer_id length limit", () => {
  const v = createValidator({ maxCustomerIdLength: 8 }, () => NOW);
  assert.equal(accepted(check(message({ customer_id: '"CUST-001"' }), v)).customerId, "CUST-001");
  assert.deepEqual(codes(check(message({ customer_id: '"CUST-0001"' }), v)), ["customer_id_invalid"]);
});

Deno.test("CUSTOMER_ID_PATTERN requires a letter or digit first", () => {
  assert.equal(CUSTOMER_ID_PATTERN.test("a-"), true);
  assert.equal(CUSTOMER_ID_PATTERN.test("-a"), false);
});

Deno.test("createValidator() accepts timestamps with a zone and normalises them to UTC microseconds", async (t) => {
  const rows: { ts: string; iso: string }[] = [
    { ts: "2025-06-01T12:00:00Z", iso: "2025-06-01T12:00:00.000000Z" },
    { ts: "2025-06-01T12:00:00z", iso: "2025-06-01T12:00:00.000000Z" },
    { ts: "2025-06-01T12:00:00+00:00", iso: "2025-06-01T12:00:00.000000Z" },
    { ts: "2025-06-01T12:00:00-00:00", iso: "2025-06-01T12:00:00.000000Z" },
    { ts: "2025-06-01T14:30:00+02:30", iso: "2025-06-01T12:00:00.000000Z" },
    { ts: "2025-06-01T14:30:00+0230", iso: "2025-06-01T12:00:00.000000Z" },
    { ts: "2025-06-01T09:00:00-03:00", iso: "2025-06-01T12:00:00.000000Z" },
    { ts: "2025-06-01T00:30:00+01:00", iso: "2025-05-31T23:30:00.000000Z" },
    { ts: "2024-12-31T23:30:00-01:00", iso: "2025-01-01T00:30:00.000000Z" },
    { ts: "2025-06-01T12:00:00.5Z", iso: "2025-06-01T12:00:00.500000Z" },
    { ts: "2025-06-01T12:00:00,25Z", iso: "2025-06-01T12:00:00.250000Z" },
    { ts: "2025-06-01T12:00:00.123Z", iso: "2025-06-01T12:00:00.123000Z" },
    { ts: "2025-06-01T12:00:00.123456Z", iso: "2025-06-01T12:00:00.123456Z" },
    { ts: "2025-06-01T12:00:00.1234567Z", iso: "2025-06-01T12:00:00.123456Z" },
    { ts: "2025-06-01T12:00:00.999999999Z", iso: "2025-06-01T12:00:00.999999Z" },
    { ts: "2025-06-01T13:00:00.000001+01:00", iso: "2025-06-01T12:00:00.000001Z" },
    { ts: "2025-06-01T12:00:00.000001+00:00", iso: "2025-06-01T12:00:00.000001Z" },
    { ts: "2025-06-01T12:00:00.000001-00:00", iso: "2025-06-01T12:00:00.000001Z" },
    { ts: "2024-02-29T12:00:00Z", iso: "2024-02-29T12:00:00.000000Z" },
    { ts: "2000-02-29T12:00:00Z", iso: "2000-02-29T12:00:00.000000Z" },
    { ts: "1970-01-01T00:00:00Z", iso: "1970-01-01T00:00:00.000000Z" },
  ];
  for (const { ts, iso } of rows) {
    await t.step(`${ts} is stored as ${iso}`, () => {
      const reading = accepted(check(message({ timestamp: JSON.stringify(ts) })));
      assert.equal(reading.recordedAt, iso);
      assert.equal(Math.floor(reading.recordedAtMs), Date.parse(iso));
    });
  }
});

Deno.test("createValidator() rejects timestamps that are not ISO 8601 with a possible date, or lack a zone", async (t) => {
  const rows: { ts: string; code: ReasonCode }[] = [
    { ts: "2025-06-01T12:00:00", code: "timestamp_without_timezone" },
    { ts: "2025-06-01T12:00:00.123456", code: "timestamp_without_timezone" },
    { ts: "2025-06-01 12:00:00", code: "timestamp_without_timezone" },
    { ts: "2025-02-30T00:00:00Z", code: "timestamp_unparsable" },
    { ts: "2023-02-29T00:00:00Z", code: "timestamp_unparsable" },
    { ts: "2025-04-31T00:00:00Z", code: "timestamp_unparsable" },
    { ts: "2025-13-01T00:00:00Z", code: "timestamp_unparsable" },
    { ts: "2025-00-10T00:00:00Z", code: "timestamp_unparsable" },
    { ts: "2025-06-00T00:00:00Z", code: "timestamp_unparsable" },
    { ts: "2025-06-01T24:00:00Z", code: "timestamp_unparsable" },
    { ts: "2025-06-01T12:60:00Z", code: "timestamp_unparsable" },
    { ts: "2025-06-01T12:00:60Z", code: "timestamp_unparsable" },
    { ts: "2025-06-01T12:00:00+24:00", code: "timestamp_unparsable" },
    { ts: "2025-06-01T12:00:00+01:60", code: "timestamp_unparsable" },
    { ts: "1969-12-31T23:59:59Z", code: "timestamp_unparsable" },
    { ts: "0001-01-01T00:00:00Z", code: "timestamp_unparsable" },
    { ts: "2025-06-01T12:00:00.1234567890Z", code: "timestamp_unparsable" },
    { ts: "2025-06-01T12:00:00.Z", code: "timestamp_unparsable" },
    { ts: "2025-6-1T12:00:00Z", code: "timestamp_unparsable" },
    { ts: "25/11/2026 19:57:57", code: "timestamp_unparsable" },
    { ts: "1700000000", code: "timestamp_unparsable" },
    { ts: "not a date", code: "timestamp_unparsable" },
    { ts: "", code: "timestamp_unparsable" },
    { ts: " 2025-06-01T12:00:00Z", code: "timestamp_unparsable" },
    { ts: "2025-06-01T12:00:00ZZ", code: "timestamp_unparsable" },
  ];
  for (const { ts, code } of rows) {
    await t.step(`${JSON.stringify(ts)} is rejected as ${code}`, () => {
      const verdict = check(message({ timestamp: JSON.stringify(ts) }));
      assert.deepEqual(codes(verdict), [code]);
      if (!verdict.ok) assert.equal(verdict.reasons[0]!.field, "timestamp");
    });
  }
});

Deno.test("createValidator() accepts a timestamp exactly at now + skew and rejects one a millisecond later", async (t) => {
  const skew = DEFAULT_LIMITS.futureSkewMs;
  const iso = (ms: number) => new Date(ms).toISOString();
  const rows: { ts: string; ok: boolean }[] = [
    { ts: iso(NOW), ok: true },
    { ts: iso(NOW + skew - 1), ok: true },
    { ts: iso(NOW + skew), ok: true },
    { ts: iso(NOW + skew).replace(".000Z", ".000001Z"), ok: false },
    { ts: iso(NOW + skew + 1), ok: false },
    { ts: "2036-01-01T00:00:00Z", ok: false },
    // the same instant as now + skew, written with an offset
    { ts: "2026-01-01T01:05:00+01:00", ok: true },
    { ts: "2026-01-01T01:05:00.001+01:00", ok: false },
  ];
  for (const { ts, ok } of rows) {
    await t.step(`${ts} is ${ok ? "accepted" : "rejected as timestamp_in_future"}`, () => {
      const verdict = check(message({ timestamp: JSON.stringify(ts) }));
      if (ok) accepted(verdict);
      else assert.deepEqual(codes(verdict), ["timestamp_in_future"]);
    });
  }
});

Deno.test("createValidator() reads the injected clock on every message", () => {
  let now = NOW;
  const v = createValidator({ futureSkewMs: 0 }, () => now);
  const text = message({ timestamp: '"2026-01-01T00:00:01Z"' });
  assert.deepEqual(codes(check(text, v)), ["timestamp_in_future"]);
  now += 1000;
  accepted(check(text, v));
});

Deno.test("createValidator() accepts exactly maxMessageBytes and rejects one byte more as too_large", () => {
  const max = DEFAULT_LIMITS.maxMessageBytes;
  accepted(check(messageOfSize(max)));
  const verdict = check(messageOfSize(max + 1));
  assert.deepEqual(codes(verdict), ["too_large"]);
  if (!verdict.ok) assert.match(verdict.reasons[0]!.detail, new RegExp(`${max + 1} bytes`));
});

Deno.test("createValidator() checks the size before decoding or parsing", () => {
  const garbage = new Uint8Array(DEFAULT_LIMITS.maxMessageBytes + 1).fill(0xff);
  assert.deepEqual(codes(check(garbage)), ["too_large"]);
  const v = createValidator({ maxMessageBytes: 10 }, () => NOW);
  assert.deepEqual(codes(check("{not json!}", v)), ["too_large"]);
  assert.deepEqual(codes(check("{not json}", v)), ["not_json"]);
});

Deno.test("createValidator() rejects empty values and tombstones as empty", async (t) => {
  await t.step("an empty value is empty", () => {
    const verdict = check(new Uint8Array(0));
    assert.deepEqual(codes(verdict), ["empty"]);
  });
  await t.step("a null value (tombstone) is empty and says so", () => {
    const verdict = check(null);
    assert.deepEqual(codes(verdict), ["empty"]);
    if (!verdict.ok) assert.match(verdict.reasons[0]!.detail, /tombstone/);
  });
  await t.step("whitespace is not empty but not JSON either", () => {
    assert.deepEqual(codes(check("   ")), ["not_json"]);
  });
});

Deno.test("createValidator() rejects bytes that are not UTF-8 as not_utf8", async (t) => {
  const rows: { name: string; bytes: number[] }[] = [
    { name: "a lone 0xff", bytes: [0xff] },
    { name: "an overlong slash", bytes: [0xc0, 0xaf] },
    { name: "an encoded surrogate", bytes: [0xed, 0xa0, 0x80] },
    { name: "a truncated euro sign", bytes: [0x7b, 0xe2, 0x82, 0x7d] },
    { name: "a Latin-1 ü inside JSON", bytes: [...encoder.encode('{"customer_id":"C'), 0xfc, ...encoder.encode('"}')] },
  ];
  for (const { name, bytes } of rows) {
    await t.step(`${name} is not_utf8`, () => {
      assert.deepEqual(codes(check(new Uint8Array(bytes))), ["not_utf8"]);
    });
  }
});

Deno.test("createValidator() rejects text that is not JSON as not_json", async (t) => {
  const rows = ["{", "hello", "{'customer_id':'A'}", '{"a":1,}', "NaN", "{}}", message().slice(0, -1)];
  for (const text of rows) {
    await t.step(`${JSON.stringify(text.slice(0, 40))} is not_json`, () => {
      assert.deepEqual(codes(check(text)), ["not_json"]);
    });
  }
});

Deno.test("createValidator() rejects JSON that is not an object as not_object", async (t) => {
  const rows = ["[]", '["CUST-001","2025-06-01T12:00:00Z",72]', "42", '"text"', "null", "true"];
  for (const text of rows) {
    await t.step(`${text} is not_object`, () => {
      assert.deepEqual(codes(check(text)), ["not_object"]);
    });
  }
});

Deno.test("createValidator() rejects duplicate top-level keys as duplicate_key", async (t) => {
  const ts = BASE.timestamp;
  const rows: { name: string; text: string; keys: string[] }[] = [
    {
      name: "customer_id twice",
      text: `{"customer_id":"A","customer_id":"A","timestamp":${ts},"heart_rate":72}`,
      keys: ["customer_id"],
    },
    {
      name: "customer_id and its escaped spelling customer\\u005fid",
      text: `{"customer_id":"A","customer\\u005fid":"B","timestamp":${ts},"heart_rate":72}`,
      keys: ["customer_id"],
    },
    {
      name: "heart_rate twice, the second valid",
      text: `{"customer_id":"A","timestamp":${ts},"heart_rate":999,"heart_rate":72}`,
      keys: ["heart_rate"],
    },
    {
      name: "an unknown key twice",
      text: `{"customer_id":"A","timestamp":${ts},"heart_rate":72,"x":1,"x":1}`,
      keys: ["x"],
    },
    {
      name: "two keys twice each",
      text: `{"customer_id":"A","timestamp":${ts},"heart_rate":72,"customer_id":"A","heart_rate":72}`,
      keys: ["customer_id", "heart_rate"],
    },
    {
      name: "a key twice with whitespace before the colon",
      text: `{ "customer_id" : "A" , "customer_id"\n:\t"A", "timestamp":${ts},"heart_rate":72}`,
      keys: ["customer_id"],
    },
  ];
  for (const { name, text, keys } of rows) {
    await t.step(`${name} is duplicate_key`, () => {
      const verdict = check(text);
      assert.equal(verdict.ok, false);
      if (!verdict.ok) {
        assert.deepEqual(verdict.reasons.map((r) => r.code), keys.map(() => "duplicate_key"));
        assert.deepEqual(verdict.reasons.map((r) => r.field), keys);
      }
    });
  }
});

Deno.test("createValidator() accepts duplicate keys inside nested objects and arrays", async (t) => {
  const rows = [
    message({ meta: '{"a":1,"a":2}' }),
    message({ meta: '[{"customer_id":1},{"customer_id":2}]' }),
    message({ meta: '{"deep":{"x":{"y":1,"y":2}}}' }),
    message({ note: JSON.stringify('"customer_id":"B"') }),
  ];
  for (const text of rows) {
    await t.step(text, () => {
      accepted(check(text));
    });
  }
});

Deno.test("createValidator() tells a missing field from a null field from a field of the wrong type", async (t) => {
  const rows: { field: string; raw: string | undefined; code: ReasonCode }[] = [
    { field: "customer_id", raw: undefined, code: "missing_field" },
    { field: "customer_id", raw: "null", code: "null_field" },
    { field: "customer_id", raw: "1", code: "wrong_type" },
    { field: "customer_id", raw: '["CUST-001"]', code: "wrong_type" },
    { field: "timestamp", raw: undefined, code: "missing_field" },
    { field: "timestamp", raw: "null", code: "null_field" },
    { field: "timestamp", raw: "1700000000", code: "wrong_type" },
    { field: "timestamp", raw: "{}", code: "wrong_type" },
    { field: "heart_rate", raw: undefined, code: "missing_field" },
    { field: "heart_rate", raw: "null", code: "null_field" },
    { field: "heart_rate", raw: '"72"', code: "wrong_type" },
    { field: "heart_rate", raw: "true", code: "wrong_type" },
    { field: "heart_rate", raw: "[72]", code: "wrong_type" },
    { field: "heart_rate", raw: '{"bpm":72}', code: "wrong_type" },
    { field: "is_anomaly", raw: '"true"', code: "wrong_type" },
    { field: "is_anomaly", raw: "1", code: "wrong_type" },
    { field: "is_anomaly", raw: "null", code: "null_field" },
    { field: "reading_id", raw: "123", code: "wrong_type" },
    { field: "reading_id", raw: '"nope"', code: "reading_id_invalid" },
    { field: "reading_id", raw: '"019abf3c-1d2e-7a00-8000-00000000000"', code: "reading_id_invalid" },
    { field: "reading_id", raw: '"019abf3c1d2e7a008000000000000001"', code: "reading_id_invalid" },
    { field: "reading_id", raw: '""', code: "reading_id_invalid" },
  ];
  for (const { field, raw, code } of rows) {
    await t.step(`${field} ${raw ?? "missing"} is ${code}`, () => {
      const verdict = check(message({ [field]: raw }));
      assert.equal(verdict.ok, false);
      if (!verdict.ok) {
        assert.deepEqual(verdict.reasons.map((r) => [r.code, r.field]), [[code, field]]);
        assert.notEqual(verdict.reasons[0]!.detail, "");
      }
    });
  }
});

Deno.test("createValidator() reports every problem of a message, not only the first", () => {
  const verdict = check(message({
    customer_id: '"bad id"',
    timestamp: '"2025-06-01T12:00:00"',
    heart_rate: "400",
    is_anomaly: '"no"',
    reading_id: '"x"',
  }));
  assert.equal(verdict.ok, false);
  if (!verdict.ok) {
    assert.deepEqual(verdict.reasons.map((r) => [r.code, r.field]), [
      ["customer_id_invalid", "customer_id"],
      ["timestamp_without_timezone", "timestamp"],
      ["heart_rate_out_of_range", "heart_rate"],
      ["wrong_type", "is_anomaly"],
      ["reading_id_invalid", "reading_id"],
    ]);
  }
  assert.deepEqual(codes(check("{}")), ["missing_field", "missing_field", "missing_field"]);
});

Deno.test("createValidator() keeps each reason's detail to one short line that names the value", () => {
  const verdict = check(message({ customer_id: JSON.stringify("C ".repeat(200)), heart_rate: "400" }));
  assert.equal(verdict.ok, false);
  if (!verdict.ok) {
    for (const r of verdict.reasons) {
      assert.doesNotMatch(r.detail, /\n/);
      assert.ok(r.detail.length < 200, r.detail);
    }
    assert.match(verdict.reasons[1]!.detail, /400/);
  }
});

Deno.test("createValidator() produces every reason code except rejected_by_database", () => {
  const seen = new Set<ReasonCode>();
  const samples: (string | Uint8Array | null)[] = [
    null,
    messageOfSize(DEFAULT_LIMITS.maxMessageBytes + 1),
    new Uint8Array([0xff]),
    "{",
    "[]",
    `{"customer_id":"A","customer_id":"A","timestamp":${BASE.timestamp},"heart_rate":72}`,
    message({ heart_rate: undefined }),
    message({ heart_rate: "null" }),
    message({ heart_rate: '"72"' }),
    message({ customer_id: '"a b"' }),
    message({ timestamp: '"x"' }),
    message({ timestamp: '"2025-06-01T12:00:00"' }),
    message({ timestamp: '"2030-01-01T00:00:00Z"' }),
    message({ heart_rate: "301" }),
    message({ reading_id: '"x"' }),
  ];
  for (const s of samples) for (const c of codes(check(s))) seen.add(c);
  assert.deepEqual([...seen].sort(), REASON_CODES.filter((c) => c !== "rejected_by_database").sort());
});

Deno.test("parseTimestamp() returns epoch milliseconds with the sub-millisecond part as a fraction", () => {
  const parsed = parseTimestamp("2026-11-25T20:57:57.123456789+01:00");
  assert.ok(!("code" in parsed));
  assert.equal(parsed.iso, "2026-11-25T19:57:57.123456Z");
  assert.ok(Math.abs(parsed.epochMs - (Date.UTC(2026, 10, 25, 19, 57, 57, 123) + 0.456)) < 1e-3);
});

Deno.test("parseTimestamp() returns the reason code and a detail quoting the text", async (t) => {
  const rows: { ts: string; code: ReasonCode; detail: RegExp }[] = [
    { ts: "yesterday", code: "timestamp_unparsable", detail: /"yesterday" is not ISO 8601/ },
    { ts: "2025-06-01T12:00:00", code: "timestamp_without_timezone", detail: /no timezone/ },
    { ts: "2025-02-30T12:00:00Z", code: "timestamp_unparsable", detail: /impossible day/ },
    { ts: "2025-13-01T12:00:00Z", code: "timestamp_unparsable", detail: /impossible month/ },
    { ts: "2025-01-01T24:00:00Z", code: "timestamp_unparsable", detail: /impossible hour/ },
    { ts: "1969-07-20T20:17:00Z", code: "timestamp_unparsable", detail: /impossible year/ },
    { ts: "2100-02-29T00:00:00Z", code: "timestamp_unparsable", detail: /impossible day/ },
    { ts: "2025-01-01T00:00:00+25:00", code: "timestamp_unparsable", detail: /impossible UTC offset/ },
    // year 10000 in UTC cannot be written as yyyy-mm-dd
    { ts: "9999-12-31T23:30:00-01:00", code: "timestamp_unparsable", detail: /impossible year/ },
  ];
  for (const { ts, code, detail } of rows) {
    await t.step(`${ts} is ${code}`, () => {
      const parsed = parseTimestamp(ts);
      assert.ok("code" in parsed, `expected ${ts} to be refused, got ${JSON.stringify(parsed)}`);
      assert.equal(parsed.code, code);
      assert.match(parsed.detail, detail);
    });
  }
});

Deno.test("parseTimestamp() accepts the edges of the representable range", async (t) => {
  const rows: { ts: string; iso: string }[] = [
    { ts: "1970-01-01T00:30:00+01:00", iso: "1969-12-31T23:30:00.000000Z" },
    { ts: "9999-12-31T23:59:59.999999Z", iso: "9999-12-31T23:59:59.999999Z" },
    { ts: "9999-12-31T23:30:00+01:00", iso: "9999-12-31T22:30:00.000000Z" },
    { ts: "2025-06-01T12:00:00+23:59", iso: "2025-05-31T12:01:00.000000Z" },
    { ts: "2025-06-01T12:00:00-23:59", iso: "2025-06-02T11:59:00.000000Z" },
    { ts: "2025-06-01T12:00:00+05", iso: "2025-06-01T07:00:00.000000Z" },
    { ts: "2025-06-01t12:00:00Z", iso: "2025-06-01T12:00:00.000000Z" },
  ];
  for (const { ts, iso } of rows) {
    await t.step(`${ts} is ${iso}`, () => {
      const parsed = parseTimestamp(ts);
      assert.ok(!("code" in parsed), JSON.stringify(parsed));
      assert.equal(parsed.iso, iso);
    });
  }
});

Deno.test("duplicateTopLevelKeys() lists only top-level keys that repeat, and mayRepeatTopLevelKeys() says whether any does", async (t) => {
  const rows: { json: string; dupes: string[] }[] = [
    { json: "{}", dupes: [] },
    { json: '{"a":1,"b":2}', dupes: [] },
    { json: '{"a":1,"a":2}', dupes: ["a"] },
    { json: '{"a":1,"a":2,"a":3}', dupes: ["a", "a"] },
    { json: '{"a":1,"b":{"a":2}}', dupes: [] },
    { json: '{"a":{"b":1,"b":2}}', dupes: [] },
    { json: '{"a":[{"b":1},{"b":2}],"c":[1,[2,{"c":3}]]}', dupes: [] },
    { json: '{"a":"\\"b\\":","b":1}', dupes: [] },
    { json: '{"a":"b","b":"a"}', dupes: [] },
    { json: '{"a\\u0062":1,"ab":2}', dupes: ["ab"] },
    { json: '{"\\"":1,"\\u0022":2}', dupes: ['"'] },
    { json: '{"a":"}","a":"{"}', dupes: ["a"] },
    { json: ' {\n "a" :1,\t"a"\r\n: 2 } ', dupes: ["a"] },
    { json: '{"":1,"":2}', dupes: [""] },
    // more keys than mayRepeatTopLevelKeys() has room for at first
    { json: `{${Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`).join(",")}}`, dupes: [] },
    { json: `{${Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`).join(",")},"k39":0}`, dupes: ["k39"] },
  ];
  for (const { json, dupes } of rows) {
    await t.step(`${json} has ${dupes.length === 0 ? "no duplicates" : JSON.stringify(dupes)}`, () => {
      JSON.parse(json); // the rows are valid JSON, as the function requires
      assert.deepEqual(duplicateTopLevelKeys(json), dupes);
      assert.equal(mayRepeatTopLevelKeys(json), dupes.length > 0);
    });
  }
});
