#!/usr/bin/env -S deno run --allow-env=HEARTBEAT_KAFKAJS_PATCHES --ignore-env
/**
 * `deno task check:patches`: loads kafkajs as the programs do (the preload first) and exits 1
 * unless every kafkajs patch is `installed`, naming each that is not. CI runs it in both module
 * layouts (the global cache, and `--node-modules-dir=auto` as `deno compile` uses), so a kafkajs
 * the patches do not recognise fails the build instead of running 2–3× slower unnoticed.
 *
 * @module
 */
import "../lib/kafka/patches/preload.ts"; // before kafkajs: see the module
import "kafkajs";
import { install, notInstalled } from "../lib/kafka/patches/mod.ts";

const report = install();
const missing = notInstalled(report);
console.log(`kafkajs patches: ${Object.entries(report).map(([name, state]) => `${name} ${state}`).join(", ")}`);
if (missing.length > 0) {
  console.error(
    `error: kafkajs patches not installed: ${missing.join(", ")} (see docs/architecture.md, kafkajs patches)`,
  );
  Deno.exit(1);
}
