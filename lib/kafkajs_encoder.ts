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
 * import { installFastEncoder } from "./kafkajs_encoder.ts";
 * installFastEncoder(); // once, before producing; idempotent
 * ```
 *
 * @module
 */
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

/** `Encoder.sizeOfVarLong`: bytes of a zigzag varlong; integers within ±2^52 without BigInt. */
function sizeOfVarLong(value: unknown): number {
  if (!fitsNumberPath(value)) return original.sizeOfVarLong.call(Encoder, value);
  let z = zigZag(value);
  let bytes = 1;
  while (z >= 128) {
    z = Math.floor(z / 128);
    bytes++;
  }
  return bytes;
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
  let z = zigZag(value);
  this.ensureAvailable(10);
  const buf = this.buf;
  let offset = this.offset;
  while (z >= 128) {
    buf[offset++] = (z % 128) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[offset++] = z;
  this.offset = offset;
  return this;
}

/** `Encoder#writeBufferInternal`: appends bytes with `Uint8Array#set`. */
function writeBufferInternal(this: EncoderInstance, buffer: Uint8Array): void {
  const length = buffer.length;
  this.ensureAvailable(length);
  this.buf.set(buffer, this.offset);
  this.offset += length;
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
