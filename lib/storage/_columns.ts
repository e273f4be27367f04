/**
 * The columns of the repository's batch statements, encoded for node-postgres: the readings as
 * PostgreSQL binary arrays (`pg_binary.ts`; the server takes them without parsing text), the dead
 * letters and alerts as plain arrays. Internal to lib/storage (the repository's tests compare
 * the arrays with PostgreSQL's own `array_send`).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Alert } from "../domain/episodes.ts";
import { BinaryArray, OID } from "./pg_binary.ts";
import type { DeadLetter, StoredReading } from "./rows.ts";

/** The nine columns of the readings INSERT as PostgreSQL binary arrays (`pg_binary.ts`). */
export function readingColumns(rows: readonly StoredReading[]): Buffer[] {
  const n = rows.length;
  let customerBytes = 0, categoryBytes = 0;
  for (const r of rows) {
    customerBytes += 3 * r.customerId.length; // UTF-8 takes at most 3 bytes a UTF-16 code unit
    categoryBytes += 3 * r.category.length;
  }
  const customer = new BinaryArray(OID.text, n, customerBytes);
  const at = new BinaryArray(OID.timestamptz, n, 8 * n);
  const hr = new BinaryArray(OID.float8, n, 8 * n);
  const anomaly = new BinaryArray(OID.bool, n, n);
  const reported = new BinaryArray(OID.bool, n, n);
  const id = new BinaryArray(OID.uuid, n, 16 * n);
  const partition = new BinaryArray(OID.int4, n, 4 * n);
  const offset = new BinaryArray(OID.int8, n, 8 * n);
  const category = new BinaryArray(OID.text, n, categoryBytes);
  for (const r of rows) {
    customer.text(r.customerId);
    at.timestamp(r.recordedAt, r.recordedAtMs);
    hr.float8(r.heartRate);
    anomaly.bool(r.isAnomaly);
    if (r.reportedAnomaly === null) reported.null();
    else reported.bool(r.reportedAnomaly);
    if (r.readingId === null) id.null();
    else id.uuid(r.readingId);
    partition.int4(r.partition);
    offset.int8Text(r.offset);
    category.text(r.category);
  }
  return [customer, at, hr, anomaly, reported, id, partition, offset, category].map((a) => a.done());
}

/** The ten columns of the alerts upsert. */
export function alertColumns(rows: Alert[]): unknown[] {
  return [
    rows.map((a) => a.customerId),
    rows.map((a) => a.kind),
    rows.map((a) => a.startedAt),
    rows.map((a) => a.openedAt),
    rows.map((a) => a.lastAt),
    rows.map((a) => a.endedAt),
    rows.map((a) => a.peak),
    rows.map((a) => a.readings),
    rows.map((a) => a.severity),
    rows.map((a) => a.closedAt),
  ];
}

/** The eight columns of the dead-letter INSERT. */
export function deadLetterColumns(rows: DeadLetter[]): unknown[] {
  const toBuffer = (b: Uint8Array | null) => b === null ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return [
    rows.map((r) => r.topic),
    rows.map((r) => r.partition),
    rows.map((r) => r.offset),
    rows.map((r) => toBuffer(r.key)),
    rows.map((r) => r.timestampMs),
    rows.map((r) => toBuffer(r.value)),
    rows.map((r) => r.reasons[0]?.code ?? "unknown"),
    rows.map((r) => JSON.stringify(r.reasons)),
  ];
}
