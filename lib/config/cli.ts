/**
 * What the entry scripts share: reading the config (printing `--help` or a one-line error) and
 * the one fatal handler that prints `error: <message>` and exits.
 *
 * @module
 */
import { ConfigError, type ConfigOf, helpText, type OptionTable, parseConfig } from "./options.ts";

/**
 * Prints `error: <message>` on stderr and exits with `code`.
 */
export function fatal(message: string, code = 1): never {
  console.error(`error: ${message}`);
  Deno.exit(code);
}

/**
 * Parses `Deno.args` and the environment against an option table. Prints help and exits 0 on
 * `--help`; prints one line naming the bad setting and exits 2 on a bad flag or env value.
 *
 * Requires `--allow-env` for the table's env names (others may be ignored with `--ignore-env`).
 */
export function loadConfig<T extends OptionTable>(usage: string, table: T, args = Deno.args): ConfigOf<T> {
  try {
    const result = parseConfig(table, { args, env: (name) => Deno.env.get(name) });
    if (result.help) {
      console.log(helpText(usage, table));
      Deno.exit(0);
    }
    return result.config;
  } catch (error) {
    if (error instanceof ConfigError) fatal(error.message, 2);
    if (error instanceof Deno.errors.NotCapable) fatal(`cannot read the environment: ${error.message}`, 2);
    throw error;
  }
}

/**
 * Runs a step that checks settings further (files, combinations); a `ConfigError` stops the
 * program with its one line and exit code 2, as a bad flag does.
 */
export function orExit<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (error instanceof ConfigError) fatal(error.message, 2);
    throw error;
  }
}
