/**
 * Reading fixed-width decimal fields out of text without slicing it (the timestamp parser and
 * the binary array encoder both run for every reading).
 *
 * @module
 */

/**
 * Reads `n` ASCII digits at `i`, or -1 when any is not a digit.
 *
 * @example
 * ```ts
 * import { digitsAt } from "./digits.ts";
 * digitsAt("2026-11-25", 5, 2); // 11
 * digitsAt("2026-1x-25", 5, 2); // -1
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
