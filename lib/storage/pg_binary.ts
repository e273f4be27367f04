/**
 * PostgreSQL's binary array format (what `array_send` writes and `array_recv` reads) for the
 * columns of the readings INSERT. node-postgres sends a Buffer parameter in binary format, so the
 * server takes fixed-width values as they are instead of parsing text (`array_in`, then
 * `timestamptz_in`, `uuid_in`, `float8in` for every element): the write path measured 8–12%
 * faster with two writers (2026-11-26 07:40 UTC, docs/performance.md).
 *
 * The layout: int32 dimensions (1), int32 has-nulls flag, uint32 element type OID, int32 length,
 * int32 lower bound (1), then per element an int32 byte length (−1 for NULL) and the bytes, all
 * big-endian.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { digitsAt } from "../domain/timestamp.ts";

/** Element type OIDs (`pg_type.oid`) of the arrays written here. */
export const OID = { bool: 16, int8: 20, int4: 23, text: 25, float8: 701, timestamptz: 1184, uuid: 2950 } as const;

/** 2000-01-01T00:00:00Z in epoch ms: where PostgreSQL counts timestamps from. */
const PG_EPOCH_MS = 946_684_800_000;
const TWO_32 = 4_294_967_296;
const HEADER = 20;

/**
 * Writes one one-dimensional array of `length` elements into a buffer sized up front; call an
 * element method per element, then {@link BinaryArray.done}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BinaryArray, OID } from "./pg_binary.ts";
 * const a = new BinaryArray(OID.int4, 2, 8);
 * a.int4(1);
 * a.null();
 * const bytes = a.done(); // the bytes of '{1,NULL}'::int4[]
 * // 1 dimension, has NULLs, OID 23 (int4), 2 elements from index 1; then 1 (4 bytes long) and NULL (length -1)
 * assert.equal(
 *   bytes.toString("hex"),
 *   "00000001" + "00000001" + "00000017" + "00000002" + "00000001" + "00000004" + "00000001" + "ffffffff",
 * );
 * ```
 */
export class BinaryArray {
  readonly #buf: Buffer;
  readonly #view: DataView;
  readonly #oid: number;
  readonly #length: number;
  #at = HEADER;
  #elements = 0;
  #hasNull = 0;

  /**
   * @param oid the element type's OID ({@link OID})
   * @param length elements it will hold
   * @param valueBytes most bytes the element values take together (lengths not included)
   */
  constructor(oid: number, length: number, valueBytes: number) {
    this.#oid = oid;
    this.#length = length;
    this.#buf = Buffer.allocUnsafe(HEADER + 4 * length + valueBytes);
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  }

  /** A NULL element. */
  null(): void {
    this.#len(-1);
  }

  /** A `text` element (UTF-8). */
  text(s: string): void {
    const b = this.#buf;
    const start = this.#at + 4;
    let at = start;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) { // not ASCII: let the encoder do it (room: 3 bytes a code unit was reserved)
        at = start + b.write(s, start, "utf8");
        break;
      }
      b[at++] = c;
    }
    this.#len(at - start);
    this.#at = at;
  }

  /** A `bool` element. */
  bool(v: boolean): void {
    this.#len(1);
    this.#buf[this.#at++] = v ? 1 : 0;
  }

  /** An `int4` element. */
  int4(v: number): void {
    this.#len(4);
    this.#view.setInt32(this.#at, v);
    this.#at += 4;
  }

  /** An `int8` element from a whole number within ±2^53. */
  int8(v: number): void {
    this.#len(8);
    const hi = Math.floor(v / TWO_32);
    this.#view.setInt32(this.#at, hi);
    this.#view.setUint32(this.#at + 4, v - hi * TWO_32);
    this.#at += 8;
  }

  /** An `int8` element from its decimal text (any int8, beyond 2^53 too). */
  int8Text(s: string): void {
    if (s.length <= 15) return this.int8(Number(s));
    this.#len(8);
    this.#view.setBigInt64(this.#at, BigInt(s));
    this.#at += 8;
  }

  /** A `float8` element. */
  float8(v: number): void {
    this.#len(8);
    this.#view.setFloat64(this.#at, v);
    this.#at += 8;
  }

  /**
   * A `timestamptz` element: `iso` when it is in the validator's form (`YYYY-MM-DDTHH:MM:SS.ffffffZ`,
   * read exactly), otherwise `epochMs` (epoch milliseconds, the fraction rounded to microseconds;
   * a double holds the microseconds exactly within 2^41 ms of 1970, 1900–2039).
   */
  timestamp(iso: string, epochMs: number): void {
    let wholeMs = canonicalSecondsMs(iso);
    let micros: number; // below the millisecond, 0..999
    if (wholeMs !== null) {
      const frac = digitsAt(iso, 20, 6); // all digits: canonicalSecondsMs checked
      wholeMs += Math.floor(frac / 1000);
      micros = frac % 1000;
    } else {
      wholeMs = Math.floor(epochMs);
      micros = Math.round((epochMs - wholeMs) * 1000);
      if (micros === 1000) {
        wholeMs++;
        micros = 0;
      }
    }
    const sinceEpoch = (wholeMs - PG_EPOCH_MS) * 1000 + micros;
    if (Number.isSafeInteger(sinceEpoch)) return this.int8(sinceEpoch);
    // beyond year 2255 microseconds outgrow a double: exact in BigInt
    this.#len(8);
    this.#view.setBigInt64(this.#at, BigInt(wholeMs - PG_EPOCH_MS) * 1000n + BigInt(micros));
    this.#at += 8;
  }

  /** A `uuid` element from its text (`8-4-4-4-12` hex digits, either case). */
  uuid(s: string): void {
    if (s.length !== 36) throw new TypeError(`Cannot encode uuid ${JSON.stringify(s)}: expected 36 characters`);
    if (
      s.charCodeAt(8) !== 0x2d || s.charCodeAt(13) !== 0x2d || s.charCodeAt(18) !== 0x2d || s.charCodeAt(23) !== 0x2d
    ) {
      throw new TypeError(`Cannot encode uuid ${JSON.stringify(s)}: expected 8-4-4-4-12`);
    }
    // the 16 bytes go after the element's length, which is written (and the element counted) only
    // once every digit was hexadecimal: a refused uuid leaves the array as it was
    const b = this.#buf;
    let at = this.#at + 4;
    for (let i = 0; i < 36; i += 2) {
      if (i === 8 || i === 13 || i === 18 || i === 23) i++; // the dashes
      b[at++] = (hexDigit(s.charCodeAt(i), s) << 4) | hexDigit(s.charCodeAt(i + 1), s);
    }
    this.#len(16);
    this.#at += 16;
  }

  /** The array's bytes (a view into its buffer). */
  done(): Buffer {
    if (this.#elements !== this.#length) {
      throw new RangeError(`Cannot finish the array: ${this.#elements} of ${this.#length} elements written`);
    }
    const b = this.#buf;
    this.#view.setInt32(0, 1);
    this.#view.setInt32(4, this.#hasNull);
    this.#view.setUint32(8, this.#oid);
    this.#view.setInt32(12, this.#length);
    this.#view.setInt32(16, 1);
    return b.subarray(0, this.#at);
  }

  #len(n: number): void {
    if (this.#elements === this.#length) throw new RangeError(`Cannot add element: the array holds ${this.#length}`);
    this.#elements++;
    if (n < 0) this.#hasNull = 1;
    this.#view.setInt32(this.#at, n);
    this.#at += 4;
  }
}

function hexDigit(c: number, s: string): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x57;
  throw new TypeError(`Cannot encode uuid ${JSON.stringify(s)}: not hexadecimal`);
}

/**
 * Epoch ms of the whole second of a timestamp in the validator's form
 * (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, UTC, all digits where digits belong); `null` for any other text.
 */
function canonicalSecondsMs(iso: string): number | null {
  if (iso.length !== 27 || iso.charCodeAt(19) !== 0x2e || iso.charCodeAt(26) !== 0x5a) return null;
  if (iso.charCodeAt(4) !== 0x2d || iso.charCodeAt(7) !== 0x2d || iso.charCodeAt(10) !== 0x54) return null;
  if (iso.charCodeAt(13) !== 0x3a || iso.charCodeAt(16) !== 0x3a) return null;
  const year = digitsAt(iso, 0, 4), month = digitsAt(iso, 5, 2), day = digitsAt(iso, 8, 2);
  const hour = digitsAt(iso, 11, 2), minute = digitsAt(iso, 14, 2), second = digitsAt(iso, 17, 2);
  // -1 is a field that is not all digits; Date.UTC reads years 0–99 as 1900–1999
  if (year < 100 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || digitsAt(iso, 20, 6) < 0) {
    return null;
  }
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  return Number.isFinite(ms) ? ms : null;
}
