/**
 * A faster kafkajs encoder for Deno: replaces the hot methods of kafkajs' protocol `Encoder` (the
 * class every request, record batch and record is written with) by versions that write bytes
 * straight into the encoder's buffer, and its record (v0) encoder by {@link directRecordEncoder}.
 * The output is byte-for-byte what kafkajs writes (`encoder_test.ts` proves it on random values
 * against the original methods). This module imports nothing of kafkajs: `mod.ts` hands it the
 * Encoder class it loaded, so a kafkajs whose files moved fails there, guarded, not here.
 *
 * Why: kafkajs 2.2.4 writes each varint through a temporary array and `Buffer.from`, computes
 * 64-bit varints with BigInt-backed `Long` objects, and copies with `Buffer#copy`; under Deno, whose
 * `node:buffer` is JavaScript on top of `Uint8Array`, that was half of the producer's CPU (profile in
 * docs/performance.md). kafkajs 2.2.4 is pinned (deno.json) and its last release, so the patched
 * methods cannot move under us; {@link EncoderPatch.install} checks the methods it replaces are
 * the ones it knows (by their source) and leaves kafkajs as it is otherwise.
 *
 * @module
 */
import { Buffer } from "node:buffer";

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

/** The Encoder methods the fast ones replace. */
export interface EncoderMethods {
  /** `Encoder.sizeOfVarLong` (static). */
  sizeOfVarLong(value: unknown): number;
  /** `Encoder#writeUVarInt`. */
  writeUVarInt(this: EncoderInstance, value: number): EncoderInstance;
  /** `Encoder#writeVarLong`. */
  writeVarLong(this: EncoderInstance, value: unknown): EncoderInstance;
  /** `Encoder#writeBufferInternal`. */
  writeBufferInternal(this: EncoderInstance, buffer: Uint8Array): void;
}

/** Marks of the kafkajs 2.2.4 sources the fast methods stand in for. */
export const ENCODER_MARKS: Readonly<Record<keyof EncoderMethods, string>> = {
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
function fastSizeOfVarLong(original: (value: unknown) => number): (value: unknown) => number {
  return (value) => fitsNumberPath(value) ? uvarintSize(zigZag(value)) : original(value);
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
function fastWriteVarLong(original: EncoderMethods["writeVarLong"]): EncoderMethods["writeVarLong"] {
  return function (this: EncoderInstance, value: unknown): EncoderInstance {
    if (!fitsNumberPath(value)) return original.call(this, value);
    this.ensureAvailable(10);
    this.offset = writeUVarintAt(this.buf, this.offset, zigZag(value));
    return this;
  };
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

/**
 * The class of a record's bytes in a Buffer of its exact size: an instance of kafkajs' Encoder
 * (kafkajs checks `instanceof Encoder`) whose `buffer` is its `buf`.
 */
function recordBytesClass(Encoder: EncoderClass): new (buf: Buffer) => EncodedRecord {
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
  return RecordBytes;
}

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
 * `original`. Byte-for-byte kafkajs' output (`encoder_test.ts`).
 *
 * @param original kafkajs' own record encoder
 * @param Encoder kafkajs' Encoder class (the records must be instances of it)
 */
export function directRecordEncoder(
  original: (args: RecordArgs) => EncodedRecord,
  Encoder: EncoderClass,
): (args: RecordArgs) => EncodedRecord {
  const RecordBytes = recordBytesClass(Encoder);
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

/**
 * The fast methods on one kafkajs Encoder class: {@link EncoderPatch.install} swaps them in (when
 * the class's methods are the ones they were written against), {@link EncoderPatch.restore}
 * puts kafkajs' own back (for tests that compare both).
 */
export class EncoderPatch {
  /** The Encoder class this patches. */
  readonly Encoder: EncoderClass;
  /** kafkajs' own methods, as they were before any install. */
  readonly original: Readonly<EncoderMethods>;
  #installed = false;

  /** @param Encoder kafkajs' Encoder class */
  constructor(Encoder: EncoderClass) {
    this.Encoder = Encoder;
    this.original = Object.freeze({
      sizeOfVarLong: Encoder.sizeOfVarLong,
      writeUVarInt: Encoder.prototype.writeUVarInt,
      writeVarLong: Encoder.prototype.writeVarLong,
      writeBufferInternal: Encoder.prototype.writeBufferInternal,
    });
  }

  /** Whether the fast methods are in place. */
  get installed(): boolean {
    return this.#installed;
  }

  /**
   * Replaces the Encoder's hot methods by the fast ones. Safe to call more than once. Returns
   * false, changing nothing, when a method's source lacks its mark (another kafkajs).
   *
   * @param marks what each replaced method's source must contain (tests pass others to see a refusal)
   */
  install(marks: Readonly<Record<keyof EncoderMethods, string>> = ENCODER_MARKS): boolean {
    if (this.#installed) return true;
    for (const [name, mark] of Object.entries(marks)) {
      if (!String(this.original[name as keyof EncoderMethods]).includes(mark)) return false;
    }
    const E = this.Encoder;
    E.sizeOfVarLong = fastSizeOfVarLong((value) => this.original.sizeOfVarLong.call(E, value));
    E.prototype.writeUVarInt = writeUVarInt;
    E.prototype.writeVarLong = fastWriteVarLong(this.original.writeVarLong);
    E.prototype.writeBufferInternal = writeBufferInternal;
    this.#installed = true;
    return true;
  }

  /** Puts kafkajs' own methods back. */
  restore(): void {
    const E = this.Encoder;
    E.sizeOfVarLong = this.original.sizeOfVarLong;
    E.prototype.writeUVarInt = this.original.writeUVarInt;
    E.prototype.writeVarLong = this.original.writeVarLong;
    E.prototype.writeBufferInternal = this.original.writeBufferInternal;
    this.#installed = false;
  }
}
