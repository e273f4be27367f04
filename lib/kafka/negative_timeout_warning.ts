/**
 * kafkajs 2.2.4 arms a timer with a negative delay on every request queue check; newer runtimes
 * warn about it (TimeoutNegativeWarning) once per process. It is harmless: this module, imported
 * for its effect, drops that one warning and passes every other on.
 *
 * @module
 */
import process from "node:process";

const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const name = typeof warning === "string" ? rest[0] : warning.name;
  if (name === "TimeoutNegativeWarning" || String(warning).includes("is a negative number")) return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;
