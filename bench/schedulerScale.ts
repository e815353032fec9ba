/**
 * One scale of the scheduler benchmark in a process of its own: the parent
 * runs this file with the scale as JSON; it prints the scale's line and
 * then its figures after FIGURES_PREFIX.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Figure } from './harness.js';
import { measure, type Scale } from './scheduler.js';

const FIGURES_PREFIX = 'FIGURES ';
const SELF = fileURLToPath(import.meta.url);

/** Runs `measure(scale)` in a child process and returns its figures (its other output is passed on). */
export function measureApart(scale: Scale): Figure[] {
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--max-old-space-size=8192', SELF, JSON.stringify(scale)],
    { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (child.status !== 0)
    throw new Error(`the scale ${JSON.stringify(scale)} failed (${child.status ?? child.signal})`);
  const lines = child.stdout.split('\n');
  for (const line of lines) if (line !== '' && !line.startsWith(FIGURES_PREFIX)) console.log(line);
  const figures = lines.find((line) => line.startsWith(FIGURES_PREFIX));
  if (!figures) throw new Error(`the scale ${JSON.stringify(scale)} printed no figures`);
  return JSON.parse(figures.slice(FIGURES_PREFIX.length)) as Figure[];
}

if (process.argv[1] === SELF) {
  const scale = JSON.parse(process.argv[2]!) as Scale;
  console.log(FIGURES_PREFIX + JSON.stringify(await measure({ ...scale, ownProcess: false })));
}
