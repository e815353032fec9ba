/**
 * Invocation ids: unique per start, sortable by start time, safe as a cgroup
 * directory name. Time in ms, a random prefix drawn once per process (so two
 * scheduler instances never collide), and a counter.
 */
import { randomBytes } from 'node:crypto';

const processPrefix = randomBytes(4).toString('hex');
let counter = 0;

export function newInvocationId(nowMs = Date.now()): string {
  counter = (counter + 1) % 0x100000000;
  return `${Math.floor(nowMs).toString(36)}-${processPrefix}${counter.toString(36)}`;
}
