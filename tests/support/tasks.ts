/**
 * How the tests run the programs: exactly as `deno task producer|consumer|db:migrate` would
 * (scripts/launch.ts derives the flags from the configuration), but starting the entry script
 * itself, so that a signal or a SIGKILL reaches the program and not a launcher in front of it.
 *
 * @module
 */
import { type ProgramName, runArgs } from "../../scripts/programs.ts";

/**
 * The `deno run …` arguments (flags and script, not `args`) of a program for the settings in
 * `args` and `env`, as its launcher would run it.
 */
export function taskArgs(task: string, args: string[] = [], env: Record<string, string> = {}): Promise<string[]> {
  return Promise.resolve(runArgs(task as ProgramName, args, (name) => env[name]));
}

/** The words of a task in deno.json. */
export async function taskWords(task: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const command: string | undefined = config.tasks?.[task];
  if (command === undefined) throw new Error(`deno.json has no task ${task}`);
  return command.trim().split(/\s+/);
}
