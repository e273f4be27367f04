#!/usr/bin/env -S deno run --allow-read=deno.json,.cache/compile-check --allow-write=.cache/compile-check --allow-run=deno
/**
 * `deno task compile:check`: proves that `deno task compile` works up to the one step that needs
 * Deno's download server, without that server. It runs the exact `deno compile` commands of the
 * `compile:producer` and `compile:consumer` tasks in deno.json (type check, module graph, npm
 * packages, the permission flags baked into the binary), writing to `.cache/compile-check/`
 * instead of `dist/`, with `DENORT_BIN` set to the running `deno` as a stand-in for the slim
 * runtime (denort) that `deno compile` otherwise downloads on first use. The outputs are then
 * deleted: built on the full `deno` instead of denort they behave as plain `deno`, not as our
 * programs, so they prove the build, not the binaries (`deno task compile` makes those). Last,
 * it runs `scripts/check_patches.ts` in the binaries' node_modules layout: it fails unless every
 * kafkajs patch is installed there.
 *
 * Requires `--allow-read=deno.json,.cache/compile-check --allow-write=.cache/compile-check
 * --allow-run=deno`.
 *
 * @module
 */

/** The permissions scripts/check_patches.ts runs with (its shebang's). */
const PATCH_CHECK_FLAGS = ["--allow-env=HEARTBEAT_KAFKAJS_PATCHES", "--ignore-env"];

/** The compile tasks this checks, and the binaries they build. */
export const COMPILE_TASKS = ["compile:producer", "compile:consumer"] as const;

/**
 * The `deno compile` arguments of a compile task with its `--output` moved into `dir`.
 *
 * @throws {TypeError} when the task is not a single `deno compile ... --output <path> <script>`
 */
export function checkArgs(command: string, dir: string): string[] {
  const words = command.trim().split(/\s+/);
  const at = words.indexOf("--output");
  if (words[0] !== "deno" || words[1] !== "compile" || at < 0 || at + 2 >= words.length) {
    throw new TypeError(
      `Cannot check compile task: expected "deno compile ... --output <path> <script>": got "${command}"`,
    );
  }
  const name = words[at + 1]!.split("/").at(-1)!;
  return [...words.slice(1, at + 1), `${dir}/${name}`, ...words.slice(at + 2)];
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url);
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  const dir = ".cache/compile-check";
  let failed = false;
  try {
    for (const task of COMPILE_TASKS) {
      const command: string | undefined = config.tasks?.[task];
      if (command === undefined) throw new Error(`deno.json has no task ${task}`);
      const args = checkArgs(command, dir);
      // "deno" from PATH, as `deno task` runs it (--allow-run=deno names that one)
      const out = await new Deno.Command("deno", {
        args,
        cwd: root,
        env: { DENORT_BIN: Deno.execPath(), NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = args[args.indexOf("--output") + 1]!;
      const size = out.success ? (await Deno.stat(new URL(output, root))).size : 0;
      if (out.success && size > 0) {
        console.log(`ok   ${task}: deno ${args.join(" ")} (${(size / 1e6).toFixed(0)} MB, denort stand-in)`);
      } else {
        failed = true;
        const decode = (b: Uint8Array) => new TextDecoder().decode(b);
        console.error(`FAIL ${task}: deno ${args.join(" ")}\n${decode(out.stdout)}${decode(out.stderr)}`);
      }
    }
    // the binaries load kafkajs from the node_modules layout the compile tasks use: the patches
    // must take there too (scripts/check_patches.ts exits 1 unless every one is installed)
    const patches = await new Deno.Command("deno", {
      args: ["run", "--node-modules-dir=auto", ...PATCH_CHECK_FLAGS, "scripts/check_patches.ts"],
      cwd: root,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(patches.stdout).trim() + new TextDecoder().decode(patches.stderr).trim();
    if (patches.success) console.log(`ok   ${said} (--node-modules-dir=auto, as compiled)`);
    else {
      failed = true;
      console.error(`FAIL ${said}`);
    }
  } finally {
    await Deno.remove(new URL(dir, root), { recursive: true }).catch(() => {});
  }
  if (failed) Deno.exit(1);
}
