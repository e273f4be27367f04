/**
 * The kafkajs patch fence against kafkajs packages the patches were not written for: a copy of
 * kafkajs 2.2.4 with one patched function rewritten (a new release, say), and one with an
 * `exports` map that hides its `src/` files. The start-up check (`scripts/check_patches.ts`, run
 * by CI) must fail naming the patch, and kafkajs itself must still load (the programs degrade to
 * plain kafkajs instead of crashing).
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = new URL("../", import.meta.url);
/** The kafkajs package the project uses, as installed in Deno's cache. */
const KAFKAJS_DIR = dirname(fileURLToPath(import.meta.resolve("kafkajs")));

/**
 * A throw-away project holding the patches, the check script and a copy of kafkajs in its own
 * `node_modules` (Deno's manual node_modules mode), changed by `alter` (a shell snippet run in
 * the copy's folder).
 */
async function runCheckAgainst(alter: string): Promise<{ code: number; out: string }> {
  const script = `set -euo pipefail
    dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
    mkdir -p "$dir/lib/kafka/patches" "$dir/scripts" "$dir/node_modules"
    cp lib/kafka/patches/mod.ts lib/kafka/patches/preload.ts lib/kafka/patches/encoder.ts lib/kafka/patches/grouping.ts lib/kafka/patches/decoder.ts lib/kafka/patches/send.ts lib/kafka/patches/coordinator.ts "$dir/lib/kafka/patches/"
    cp scripts/check_patches.ts "$dir/scripts/"
    echo '{"nodeModulesDir":"manual"}' >"$dir/deno.json"
    echo '{"dependencies":{"kafkajs":"2.2.4"}}' >"$dir/package.json"
    cp -rL "$KAFKAJS_DIR" "$dir/node_modules/kafkajs"
    chmod -R u+w "$dir/node_modules/kafkajs"
    (cd "$dir/node_modules/kafkajs" && ${alter})
    cd "$dir" && deno run --allow-env=HEARTBEAT_KAFKAJS_PATCHES --ignore-env scripts/check_patches.ts 2>&1`;
  const { code, stdout } = await new Deno.Command("bash", {
    args: ["-c", script],
    cwd: ROOT,
    env: { KAFKAJS_DIR },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  return { code, out: new TextDecoder().decode(stdout) };
}

Deno.test("the start-up check fails, naming the patch, on a kafkajs the patches do not recognise", async (t) => {
  const cases: [string, string, RegExp][] = [
    [
      "a release whose grouping no longer copies arrays",
      `sed -i 's/\\[\\.\\.\\.current, message\\]/current.concat([message])/' src/producer/groupMessagesPerPartition.js`,
      /kafkajs patches not installed: grouping \(unknown\)/,
    ],
    [
      "a release whose send loop changed",
      `sed -i 's/brokersWithoutResponse/brokersToSend/g' src/producer/sendMessages.js`,
      /kafkajs patches not installed: send \(unknown\)/,
    ],
    [
      "a release with an exports map that hides src/",
      `sed -i 's/^{/{"exports":{".":".\\/index.js"},/' package.json`,
      /kafkajs patches not installed: encoder \(failed\), grouping \(failed\), record \(failed\), decoder \(failed\), send \(failed\), coordinator \(failed\)/,
    ],
    [
      "a release whose consumer batch compares offsets otherwise",
      `sed -i 's/gte(longFetchedOffset)/greaterThanOrEqual(longFetchedOffset)/' src/consumer/batch.js`,
      /kafkajs patches not installed: decoder \(unknown\)/,
    ],
  ];
  for (const [name, alter, expected] of cases) {
    await t.step(name, async () => {
      const { code, out } = await runCheckAgainst(alter);
      assert.equal(code, 1, out);
      assert.match(out, expected);
      // the preload never throws: kafkajs loaded (the script imports it after the preload)
      assert.match(
        out,
        /^kafkajs patches: encoder \w+, grouping \w+, record \w+, decoder \w+, send \w+, coordinator \w+$/m,
      );
    });
  }
});

Deno.test("the start-up check passes on the kafkajs the project pins", async () => {
  const { code, out } = await runCheckAgainst("true");
  assert.equal(code, 0, out);
  assert.match(
    out,
    /kafkajs patches: encoder installed, grouping installed, record installed, decoder installed, send installed, coordinator installed/,
  );
});
