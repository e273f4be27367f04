/**
 * A small seeded pseudo-random generator (sfc32, seeded through splitmix32), so that the simulator
 * gives the same messages for the same seed on every machine. Not for cryptography.
 *
 * @module
 */

/** A deterministic random source. */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  #spareGaussian: number | null = null;

  /**
   * @param seed any integer; seeds that differ give unrelated streams
   * @param stream a second integer to derive independent streams from one seed (e.g. per customer)
   */
  constructor(seed: number, stream = 0) {
    let s = (Math.trunc(seed) ^ Math.imul(Math.trunc(stream) + 1, 0x9e3779b9)) >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.uint32();
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296;
  }

  /** A uniform float in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** A uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** A normally distributed float (Box–Muller). */
  gaussian(mean = 0, sd = 1): number {
    if (this.#spareGaussian !== null) {
      const z = this.#spareGaussian;
      this.#spareGaussian = null;
      return mean + sd * z;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spareGaussian = r * Math.sin(2 * Math.PI * v);
    return mean + sd * r * Math.cos(2 * Math.PI * v);
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("Cannot pick from an empty array");
    return items[Math.floor(this.next() * items.length)]!;
  }
}

/**
 * A UUIDv7 (RFC 9562) for a given time, with its random bits drawn from `random`, so that seeded
 * runs give the same ids.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Random, uuidv7 } from "./random.ts";
 * const id = uuidv7(Date.UTC(2026, 0, 1), new Random(1));
 * assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
 * assert.ok(id.startsWith("019b76da-a800-")); // the epoch milliseconds, in hex
 * ```
 */
export function uuidv7(epochMs: number, random: Random): string {
  const ms = Math.max(0, Math.floor(epochMs));
  if (ms !== lastMs) {
    // readings come in time order, many in the same millisecond: format its part once
    const hex = ms.toString(16).padStart(12, "0").slice(-12);
    lastMs = ms;
    lastMsPrefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7`;
  }
  const r1 = random.uint32(), r2 = random.uint32(), r3 = random.uint32();
  // rand_a: the low 12 bits of (r1 >>> 0) as three hex digits; the variant: 10 then 14 bits of r1 >>> 12
  return lastMsPrefix + HEX3[r1 & 0xfff]! + "-" + HEX[(((r1 >>> 12) & 0x3fff) | 0x8000) >>> 8]! +
    HEX[(r1 >>> 12) & 0xff]! + "-" + HEX[r2 >>> 24]! + HEX[(r2 >>> 16) & 0xff]! + HEX[(r2 >>> 8) & 0xff]! +
    HEX[r2 & 0xff]! + HEX[(r3 >>> 8) & 0xff]! + HEX[r3 & 0xff]!;
}

let lastMs = Number.NaN;
let lastMsPrefix = "";

/** Two lower-case hex digits of each byte. */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
/** Three lower-case hex digits of each 12-bit value. */
const HEX3: readonly string[] = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(3, "0"));
