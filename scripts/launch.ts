/**
 * `deno task producer|consumer|db:migrate`: reads the program's configuration (flags and env, the
 * same option table the program reads), derives the permissions it needs from it
 * (`scripts/programs.ts`: exactly the configured brokers, database, metrics address and files),
 * and runs the entry script with exactly those. So `KAFKA_BROKERS=b-1.example:9096 deno task
 * consumer` needs no edit of deno.json, and the consumer still may reach only that host. Signals
 * are passed on; the exit code is the program's. `--help` and a bad setting are answered here,
 * as the program would.
 *
 * Requires `--allow-env=<the program's names>`, `--ignore-env` and `--allow-run=deno`.
 *
 * @module
 */
import { fatal, loadConfig } from "../lib/config/mod.ts";
import { type ProgramName, PROGRAMS, runFlags } from "./programs.ts";

const [name, ...args] = Deno.args;
if (name === undefined || !(name in PROGRAMS)) {
  fatal(`usage: launch.ts ${Object.keys(PROGRAMS).join("|")} [options]`, 2);
}
const program = PROGRAMS[name as ProgramName];
loadConfig(program.usage, program.table, args); // --help, or one line naming a bad setting
const flags = runFlags(name as ProgramName, args, (n) => Deno.env.get(n));
const script = new URL(`../${program.script}`, import.meta.url).pathname;
const child = new Deno.Command("deno", { args: ["run", ...flags, script, ...args] }).spawn();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  });
}
const status = await child.status;
Deno.exit(status.code);
