/**
 * `deno task compile`: builds the standalone binaries (`dist/heartbeat-producer`,
 * `dist/heartbeat-consumer`) with the permissions their configuration derives
 * (`scripts/programs.ts`), read from this environment: set the target deployment's settings
 * (`KAFKA_BROKERS=… DATABASE_URL=… KAFKA_SSL_CA_FILE=… deno task compile`) and the binaries may
 * reach exactly those hosts and read exactly those files. A binary started with other settings
 * stops at once with a one-line error that says to rebuild.
 *
 * `deno task compile:check` (`--check`) proves the build without Deno's download server, which
 * this machine cannot reach: the same `deno compile` commands with the running `deno` as a
 * stand-in for the slim runtime (denort), into `.cache/compile-check/` (deleted after: built on
 * the full `deno` they behave as plain `deno`, so they prove the build, not the binaries); then
 * `scripts/check_patches.ts` in the binaries' node_modules layout, which fails unless every
 * kafkajs patch is installed there.
 *
 * Requires `--allow-env` of both programs' names, `--ignore-env`, `--allow-run=deno`, and read and
 * write of the output folder.
 *
 * @module
 */
import { type ProgramName, PROGRAMS, runFlags } from "./programs.ts";

/** The programs built, and their binaries' names. */
export const BINARIES: Readonly<Record<"producer" | "consumer", string>> = {
  producer: "heartbeat-producer",
  consumer: "heartbeat-consumer",
};

/** What `deno compile` must leave out: prom-client's dependency ships its tests. */
const EXCLUDE = "--exclude=node_modules/.deno/bintrees@1.0.2/node_modules/bintrees/test";

/** The permissions scripts/check_patches.ts runs with (its shebang's). */
const PATCH_CHECK_FLAGS = ["--allow-env=HEARTBEAT_KAFKAJS_PATCHES", "--ignore-env"];

/** The `deno compile` arguments of a binary, for a configuration (env lookup), into `dir`. */
export function compileArgs(
  name: keyof typeof BINARIES,
  env: (name: string) => string | undefined,
  dir = "dist",
): string[] {
  return [
    "compile",
    ...runFlags(name as ProgramName, [], env),
    "--node-modules-dir=auto",
    EXCLUDE,
    "--output",
    `${dir}/${BINARIES[name]}`,
    PROGRAMS[name].script,
  ];
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  const root = new URL("..", import.meta.url);
  const dir = check ? ".cache/compile-check" : "dist";
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  let failed = false;
  try {
    for (const name of Object.keys(BINARIES) as (keyof typeof BINARIES)[]) {
      const args = compileArgs(name, (n) => Deno.env.get(n), dir);
      const out = await new Deno.Command("deno", {
        args,
        cwd: root,
        // the stand-in runtime, when checking (deno compile would download denort)
        env: check ? { DENORT_BIN: Deno.execPath(), NO_COLOR: "1" } : { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const size = out.success ? (await Deno.stat(new URL(`${dir}/${BINARIES[name]}`, root))).size : 0;
      if (out.success && size > 0) {
        console.log(
          `ok   ${name}: deno ${args.join(" ")} (${(size / 1e6).toFixed(0)} MB${check ? ", denort stand-in" : ""})`,
        );
      } else {
        failed = true;
        console.error(`FAIL ${name}: deno ${args.join(" ")}\n${decode(out.stdout)}${decode(out.stderr)}`);
      }
    }
    if (check) {
      const patches = await new Deno.Command("deno", {
        args: ["run", "--node-modules-dir=auto", ...PATCH_CHECK_FLAGS, "scripts/check_patches.ts"],
        cwd: root,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = (decode(patches.stdout) + decode(patches.stderr)).trim();
      if (patches.success) console.log(`ok   ${said} (--node-modules-dir=auto, as compiled)`);
      else {
        failed = true;
        console.error(`FAIL ${said}`);
      }
    }
  } finally {
    if (check) await Deno.remove(new URL(dir, root), { recursive: true }).catch(() => {});
  }
  if (failed) Deno.exit(1);
}
