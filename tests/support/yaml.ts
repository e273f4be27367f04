/**
 * YAML for the tests, parsed without environment access: the `yaml` package reads its debug
 * switches (`process.env.LOG_TOKENS`, `LOG_STREAM`) while it parses, which throws `NotCapable` when a
 * test runs with `--ignore-env` or without `--allow-env`; parsing is synchronous, so an empty
 * environment stands in for exactly that long.
 *
 * @module
 */
import process from "node:process";
import { parse } from "yaml";

/** Parses YAML text (see the module doc). */
export function parseYaml(text: string): unknown {
  const env = process.env;
  Object.defineProperty(process, "env", { value: {}, configurable: true, writable: true, enumerable: true });
  try {
    return parse(text);
  } finally {
    Object.defineProperty(process, "env", { value: env, configurable: true, writable: true, enumerable: true });
  }
}
