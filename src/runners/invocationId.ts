/** Invocation ids: unique per start, sortable by start time, safe as a cgroup directory name. */
import { randomBytes } from 'node:crypto';

export function newInvocationId(nowMs = Date.now()): string {
  return `${nowMs.toString(36)}-${randomBytes(6).toString('hex')}`;
}
