/**
 * `kill_subprocess` (alias `kill_request`): how a task is asked to
 * stop. `term_wait_kill` with `kill_wait_ms` <= 0 means SIGKILL at once.
 */
import { z } from 'zod';
import type { ObjectReader } from './reader.js';
import { integer } from './values.js';

export const KILL_METHODS = ['term', 'kill', 'term_wait_kill'] as const;
export type KillMethod = (typeof KILL_METHODS)[number];

export interface KillRequest {
  readonly method: KillMethod;
  readonly killWaitMs: number;
}

export const DEFAULT_KILL_REQUEST: KillRequest = { method: 'term', killWaitMs: 0 };

const killMethod = z.enum(KILL_METHODS).describe('one of "term", "kill", "term_wait_kill"');

/**
 * Reads `kill_subprocess` or its alias `kill_request` from `parent`, applied
 * field by field over `inherited`. Both keys at once is an error.
 */
export function readKillRequest(parent: ObjectReader, inherited: KillRequest): KillRequest {
  const hasCanonical = parent.has('kill_subprocess');
  const hasAlias = parent.has('kill_request');
  parent.accept('kill_subprocess', 'kill_request');
  if (hasCanonical && hasAlias) {
    parent.invalid(
      ['kill_request'],
      'both "kill_subprocess" and its alias "kill_request" are set; keep one',
      parent.input['kill_request'],
    );
  }
  const reader = parent.object(hasCanonical ? 'kill_subprocess' : 'kill_request');
  if (!reader) return inherited;
  const request: KillRequest = {
    method: reader.optional('method', killMethod, inherited.method),
    killWaitMs: reader.optional('kill_wait_ms', integer, inherited.killWaitMs),
  };
  reader.finish();
  return request;
}

export function serializeKillRequest(request: KillRequest): { method: KillMethod; kill_wait_ms: number } {
  return { method: request.method, kill_wait_ms: request.killWaitMs };
}
