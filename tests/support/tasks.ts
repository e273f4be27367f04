/**
 * Reading deno.json tasks, so that tests run the scripts with exactly the flags users get.
 *
 * @module
 */

/** The `deno run ...` arguments of a task in deno.json, so tests run scripts exactly as users do. */
export async function taskArgs(task: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const command: string | undefined = config.tasks?.[task];
  if (command === undefined) throw new Error(`deno.json has no task ${task}`);
  const words = command.split(/\s+/);
  if (words[0] !== "deno") throw new Error(`task ${task} does not start with deno: ${command}`);
  return words.slice(1);
}
