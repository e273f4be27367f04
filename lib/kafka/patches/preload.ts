/**
 * Installs the kafkajs patches as a side effect, before kafkajs loads: import it before anything
 * that imports kafkajs (`tests/layout_test.ts` checks every program, script, benchmark and test).
 * `HEARTBEAT_KAFKAJS_PATCHES=off` leaves kafkajs as it is (an unreadable or unknown value leaves
 * the patches on here; the programs' config check then stops them with a one-line error).
 *
 * Requires `--allow-env=HEARTBEAT_KAFKAJS_PATCHES` to honour the switch (under `--ignore-env` it
 * reads as unset: patches on).
 *
 * @example
 * ```ts
 * import "./preload.ts"; // before kafkajs
 * import { Kafka } from "kafkajs";
 * ```
 *
 * @module
 */
import { install, PATCHES_ENV, patchesEnabled } from "./mod.ts";

let enabled = true;
try {
  enabled = patchesEnabled(Deno.env.get(PATCHES_ENV));
} catch {
  // reported by the config check, which names the setting
}
install({ enabled });
