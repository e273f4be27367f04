/**
 * `deno task dev`: Kafka, PostgreSQL (and with Docker, Grafana), the schema, the consumer and a
 * producer, in one console, stopped together by Ctrl-C. `deno task dev:down` (`dev.ts down`)
 * stops a run from another terminal. See scripts/dev/.
 *
 * @module
 */
import { envNames, loadConfig } from "../lib/config/mod.ts";
import { DEV_USAGE, devDown, devOptions, PASSED_ENV, runDev, SCRIPT_ENV } from "./dev/mod.ts";

/** The env names dev reads (its task's `--allow-env`; tests/project_test.ts holds the task to it). */
export const DEV_ENV = [...new Set([...envNames(devOptions), ...PASSED_ENV, ...SCRIPT_ENV])].sort();

if (import.meta.main) {
  const root = new URL("..", import.meta.url);
  if (Deno.args[0] === "down") Deno.exit(await devDown(root));
  const config = loadConfig(DEV_USAGE, devOptions);
  Deno.exit(await runDev(config, (name) => Deno.env.get(name), root));
}
