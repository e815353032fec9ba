/**
 * `npm run bench [-- NAME...]`: runs the named benchmarks (all by default).
 * Each prints its machine, its figures against its same-run baseline, and
 * ends with one JSON object per figure.
 */
import { runSchedulerBench } from './scheduler.js';
import { runApiBench } from './api.js';
import { runContainmentBench } from './containment.js';
import { runE2eBench } from './e2e.js';
import { runSupervisorBench } from './supervisor.js';
import { runUiBench } from './ui.js';
import { runPostgresBench } from './postgres.js';
import { runLaunchStepsBench } from './launchSteps.js';
import { runDistributedBench } from './distributed.js';
import { runConfigBench } from './config.js';

const BENCHES: Record<string, () => Promise<void>> = {
  scheduler: runSchedulerBench,
  supervisor: runSupervisorBench,
  containment: runContainmentBench,
  e2e: runE2eBench,
  api: runApiBench,
  ui: runUiBench,
  postgres: runPostgresBench,
  steps: runLaunchStepsBench,
  distributed: runDistributedBench,
  config: runConfigBench,
};

const requested = process.argv.slice(2);
const names = requested.length > 0 ? requested : Object.keys(BENCHES);
for (const name of names) {
  const bench = BENCHES[name];
  if (!bench) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
}
for (const name of names) await BENCHES[name]!();
