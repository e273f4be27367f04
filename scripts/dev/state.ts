/**
 * What a `deno task dev` run started, on disk (`.cache/dev/state.json`), so that
 * `deno task dev:down` can stop it from another terminal, or clean up after a run that was killed
 * without its chance to stop things itself.
 *
 * Requires `--allow-read=.cache/dev` and `--allow-write=.cache/dev`.
 *
 * @module
 */
import type { Started } from "./infra.ts";

/** A recorded dev run. */
export interface DevState {
  /** The dev process. */
  pid: number;
  /** When it started (ISO 8601). */
  startedAt: string;
  /** The programs it runs, by name. */
  programs: { name: string; pid: number; script: string }[];
  /** The services it started, in start order. */
  started: Started[];
}

/** The state file, under the project root. */
export function statePath(root: URL): URL {
  return new URL(".cache/dev/state.json", root);
}

/** Reads the recorded run, if any. */
export async function readState(root: URL): Promise<DevState | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(statePath(root))) as DevState;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Records a run (replacing the file atomically). */
export async function writeState(root: URL, state: DevState): Promise<void> {
  await Deno.mkdir(new URL(".cache/dev/", root), { recursive: true });
  const tmp = new URL(".cache/dev/state.json.tmp", root);
  await Deno.writeTextFile(tmp, JSON.stringify(state, null, 2) + "\n");
  await Deno.rename(tmp, statePath(root));
}

/** Forgets the recorded run. */
export async function removeState(root: URL): Promise<void> {
  await Deno.remove(statePath(root)).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}
