/**
 * A faster kafkajs encoder for Deno: replaces the hot methods of kafkajs' protocol `Encoder` (the
 * class every request, record batch and record is written with) by versions that write bytes
 * straight into the encoder's buffer. The output is byte-for-byte what kafkajs writes
 * (`lib/kafkajs_encoder_test.ts` proves it on random values against the original methods).
 *
 * Why: kafkajs 2.2.4 writes each varint through a temporary array and `Buffer.from`, computes
 * 64-bit varints with BigInt-backed `Long` objects, and copies with `Buffer#copy`; under Deno, whose
 * `node:buffer` is JavaScript on top of `Uint8Array`, that was half of the producer's CPU (profile in
 * docs/performance.md). kafkajs 2.2.4 is pinned (deno.json) and its last release, so the patched
 * methods cannot move under us; {@link installFastEncoder} checks the methods it replaces are the
 * ones it knows (by their source) and leaves kafkajs as it is otherwise.
 *
 * @example
 * ```ts
 * import { installFastEncoder } from "./encoder.ts";
 * installFastEncoder(); // once, before producing; idempotent
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
// kafkajs is CommonJS: this is the very class its requests, batches and records are written with
import EncoderModule from "kafkajs/src/protocol/encoder.js";

/** The slice of kafkajs' Encoder that the fast methods use and replace. */
interface EncoderInstance {
  buf: Uint8Array;
  offset: number;
  ensureAvailable(length: number): void;
  writeUVarInt(value: number): EncoderInstance;
  writeVarInt(value: number): EncoderInstance;
  writeVarLong(value: unknown): EncoderInstance;
  writeBufferInternal(buffer: Uint8Array): void;
}

/** kafkajs' Encoder class, as far as this module uses it. */
export interface EncoderClass {
  new (initialSize?: number): EncoderInstance;
  sizeOfVarLong(value: unknown): number;
  prototype: EncoderInstance;
}

/** kafkajs' own Encoder class (patched once {@link installFastEncoder} ran). */
export const Encoder = EncoderModule as unknown as EncoderClass;

const original = {
  sizeOfVarLong: Encoder.sizeOfVarLong,
  writeUVarInt: Encoder.prototype.writeUVarInt,
  writeVarLong: Encoder.prototype.writeVarLong,
  writeBufferInternal: Encoder.prototype.writeBufferInternal,
};

/** The original kafkajs methods, for tests that compare outputs. */
export const originalEncoder: Readonly<typeof original> = Object.freeze({ ...original });

/** Marks of the kafkajs 2.2.4 sources the fast methods stand in for. */
const expectedSources: Record<keyof typeof original, string> = {
  sizeOfVarLong: "Encoder.encodeZigZag64(value)",
  writeUVarInt: "this.writeBufferInternal(Buffer.from(byteArray))",
  writeVarLong: "Encoder.encodeZigZag64(value)",
  writeBufferInternal: "buffer.copy(this.buf, this.offset, 0)",
};

/** Integers whose zigzag encoding (about twice their size) is still exact as a number. */
function fitsNumberPath(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= -(2 ** 52) && value < 2 ** 52;
}

/** ZigZag encoding of an integer in ±2^52 as a (non-negative) number: 0,-1,1,-2 → 0,1,2,3. */
function zigZag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

/** Bytes of an unsigned varint of a whole number below 2^53. */
function uvarintSize(v: number): number {
  let bytes = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    bytes++;
  }
  return bytes;
}

/** Writes an unsigned varint of a whole number below 2^53 at `at`; returns the next position. */
function writeUVarintAt(buf: Uint8Array, at: number, v: number): number {
  while (v >= 128) {
    buf[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
}

/** `Encoder.sizeOfVarLong`: bytes of a zigzag varlong; integers within ±2^52 without BigInt. */
function sizeOfVarLong(value: unknown): number {
  if (!fitsNumberPath(value)) return original.sizeOfVarLong.call(Encoder, value);
  return uvarintSize(zigZag(value));
}

/** `Encoder#writeUVarInt`: an unsigned 32-bit LEB128 varint, written in place. */
function writeUVarInt(this: EncoderInstance, value: number): EncoderInstance {
  this.ensureAvailable(5);
  const buf = this.buf;
  let offset = this.offset;
  while ((value & 0xffffff80) !== 0) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[offset++] = value & 0x7f;
  this.offset = offset;
  return this;
}

/** `Encoder#writeVarLong`: a zigzag varlong; integers within ±2^52 written in place without BigInt. */
function writeVarLong(this: EncoderInstance, value: unknown): EncoderInstance {
  if (!fitsNumberPath(value)) return original.writeVarLong.call(this, value);
  this.ensureAvailable(10);
  this.offset = writeUVarintAt(this.buf, this.offset, zigZag(value));
  return this;
}

/** `Encoder#writeBufferInternal`: appends bytes with `Uint8Array#set`. */
function writeBufferInternal(this: EncoderInstance, buffer: Uint8Array): void {
  const length = buffer.length;
  this.ensureAvailable(length);
  this.buf.set(buffer, this.offset);
  this.offset += length;
}

/** What kafkajs' record (v0) encoder takes: one message of a record batch. */
export interface RecordArgs {
  /** Position in the batch. */
  offsetDelta?: number | undefined;
  /** Milliseconds after the batch's first timestamp (a number, or a kafkajs Long). */
  timestampDelta?: unknown;
  /** Key: a Buffer, a string, or null. */
  key?: unknown;
  /** Value: a Buffer, a string, or null. */
  value?: unknown;
  /** Record headers. */
  headers?: Record<string, unknown> | undefined;
}

/** The encoded record, as kafkajs' record batch reads it (`buf`, and `buffer` for its bytes). */
export interface EncodedRecord {
  /** Holds the record's bytes. */
  buf: Uint8Array;
  /** Bytes written. */
  offset: number;
  /** The record's bytes. */
  readonly buffer: Uint8Array;
}

/** A record's bytes in a Buffer of its exact size: an Encoder (kafkajs checks) whose `buffer` is `buf`. */
class RecordBytes {
  buf: Buffer;
  offset: number;
  constructor(buf: Buffer) {
    this.buf = buf;
    this.offset = buf.length;
  }
  get buffer(): Buffer {
    return this.buf;
  }
}
Object.setPrototypeOf(RecordBytes.prototype, Encoder.prototype);

/** ZigZag of a 32-bit varint as kafkajs computes it (`Encoder.encodeZigZag`), unsigned. */
function zigZag32(v: number): number {
  return ((v << 1) ^ (v >> 31)) >>> 0;
}

/** Whether a key or value is one the direct path writes: a Buffer, or none. */
function plainBytes(v: unknown): v is Buffer | null | undefined {
  return v == null || Buffer.isBuffer(v);
}

function noHeaders(headers: Record<string, unknown> | undefined): boolean {
  if (headers === undefined) return true;
  for (const _ in headers) return false;
  return true;
}

/**
 * kafkajs' record (v0) encoder for the messages the publisher sends (Buffer or null keys and
 * values, no headers): the record written once into a Buffer of its exact size, where kafkajs
 * zero-fills a 512-byte Encoder per record, builds a header array and copies the record again to
 * read it. Anything else (strings, headers, a timestamp delta beyond ±2^52) goes to kafkajs' own
 * `original`. Byte-for-byte kafkajs' output (`lib/kafkajs_encoder_test.ts`).
 *
 * @param original kafkajs' own record encoder
 */
export function directRecordEncoder(
  original: (args: RecordArgs) => EncodedRecord,
): (args: RecordArgs) => EncodedRecord {
  return (args) => {
    const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = args;
    if (
      !plainBytes(key) || !plainBytes(value) || !noHeaders(headers) || !fitsNumberPath(timestampDelta) ||
      !Number.isInteger(offsetDelta) || offsetDelta < 0 || offsetDelta > 0x7fffffff
    ) {
      return original(args);
    }
    const timestamp = zigZag(timestampDelta);
    const offset = zigZag32(offsetDelta);
    const keyLength = key == null ? -1 : key.length;
    const valueLength = value == null ? -1 : value.length;
    const body = 1 + uvarintSize(timestamp) + uvarintSize(offset) +
      uvarintSize(zigZag32(keyLength)) + Math.max(keyLength, 0) +
      uvarintSize(zigZag32(valueLength)) + Math.max(valueLength, 0) +
      1; // no headers: a zero count
    const buf = Buffer.allocUnsafe(uvarintSize(zigZag32(body)) + body);
    let at = writeUVarintAt(buf, 0, zigZag32(body));
    buf[at++] = 0; // attributes
    at = writeUVarintAt(buf, at, timestamp);
    at = writeUVarintAt(buf, at, offset);
    at = writeUVarintAt(buf, at, zigZag32(keyLength));
    if (key != null) {
      buf.set(key, at);
      at += keyLength;
    }
    at = writeUVarintAt(buf, at, zigZag32(valueLength));
    if (value != null) {
      buf.set(value, at);
      at += valueLength;
    }
    buf[at] = 0; // header count
    return new RecordBytes(buf);
  };
}

let installed = false;

/** Puts kafkajs' own methods back (for tests that compare both). */
export function restoreOriginalEncoder(): void {
  Encoder.sizeOfVarLong = original.sizeOfVarLong;
  Encoder.prototype.writeUVarInt = original.writeUVarInt;
  Encoder.prototype.writeVarLong = original.writeVarLong;
  Encoder.prototype.writeBufferInternal = original.writeBufferInternal;
  installed = false;
}

/**
 * Replaces kafkajs' Encoder hot methods by the fast ones (see the module documentation). Safe to
 * call more than once. Returns false, changing nothing, when the kafkajs in use is not the one the
 * fast methods were written against.
 *
 * @param marks what each replaced method's source must contain (tests pass others to see a refusal)
 */
export function installFastEncoder(marks: Record<keyof typeof original, string> = expectedSources): boolean {
  if (installed) return true;
  for (const [name, mark] of Object.entries(marks)) {
    const source = String(original[name as keyof typeof original]);
    if (!source.includes(mark)) return false;
  }
  Encoder.sizeOfVarLong = sizeOfVarLong;
  Encoder.prototype.writeUVarInt = writeUVarInt;
  Encoder.prototype.writeVarLong = writeVarLong;
  Encoder.prototype.writeBufferInternal = writeBufferInternal;
  installed = true;
  return true;
}
