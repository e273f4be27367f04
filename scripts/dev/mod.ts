/**
 * `deno task dev` and `deno task dev:down`: the whole pipeline on this machine in one console.
 *
 * @module
 */
export { devDown, PASSED_ENV, runDev, SCRIPT_ENV } from "./run.ts";
export { DEV_USAGE, devOptions } from "./options.ts";
export { snapshot, statusLine } from "./status.ts";
export { renderLine } from "./render.ts";
