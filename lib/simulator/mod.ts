/**
 * The simulator: seeded heart-rate monitors (`simulator.ts`, with its own generator in
 * `random.ts`), each message carrying the ground truth a correct consumer must reach; pacing to
 * the wall clock into any keyed message sink (`publish.ts`); and `--dry-run` output (`dry_run.ts`).
 *
 * @module
 */
export { type Episode, type SimulatedMessage, Simulator, type SimulatorOptions } from "./simulator.ts";
export { type MessageSink, publishSimulation, type SimulationRun } from "./publish.ts";
export { printDryRun } from "./dry_run.ts";
