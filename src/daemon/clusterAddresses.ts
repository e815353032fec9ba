/** Addresses a clustered scheduler publishes: where its API answers, where its task cgroups live. */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ContainmentChoice } from '../supervisor/containment/containmentFactory.js';

/** The API's URL as other machines should use it (a wildcard bind is named by the host name). */
export function apiUrlOf(address: string, port: number): string {
  const host = address === '0.0.0.0' || address === '::' ? hostname() : address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** This instance's task cgroup sub-trees under a containment choice (the watchdog empties them). */
export function taskCgroupRoots(choice: ContainmentChoice): string[] {
  if (choice.kind === 'v2') return [join(choice.root, choice.slice)];
  if (choice.kind === 'v1') return [...choice.mounts.values()].map((mount) => join(mount, choice.slice));
  return [];
}
