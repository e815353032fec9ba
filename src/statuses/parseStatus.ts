/**
 * What a task reports on its status pipe: a plain label, or
 * JSON with `result_bits` or `result` and optional `data`. Anything else is
 * an `error_backoff` whose data keeps the raw text, so nothing is lost.
 */
import { ALL_KNOWN_BITS, CURRENT_STATUS_BITS, StatusBits as B } from './taskStatus.js';

/** A task's report before backoff is applied: bits and data only. */
export interface StatusReport {
  readonly bits: number;
  readonly data?: unknown;
}

const LABELS: Readonly<Record<string, number>> = {
  done: B.DONE,
  incomplete: B.INCOMPLETE,
  incomplete_backoff: B.INCOMPLETE | B.USES_BACKOFF | B.DOES_NOT_ADVANCE_BACKOFF,
  error_backoff: B.ERROR | B.USES_BACKOFF,
  backoff: B.ERROR | B.USES_BACKOFF,
  failed: B.FAILED,
};

const FORBIDDEN_BITS = B.UNSTARTED | B.RUNNING | B.AVOIDED | B.DISABLED | B.HAS_SAVED_BACKOFF;
const REPORTABLE_CURRENT = B.DONE | B.INCOMPLETE | B.FAILED | B.ERROR;

export function labelBits(label: string): number | undefined {
  return Object.prototype.hasOwnProperty.call(LABELS, label) ? LABELS[label] : undefined;
}

export function parseStatusReport(raw: string): StatusReport {
  const label = labelBits(raw);
  if (label !== undefined) return { bits: label };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    return garbage(raw, `not a status label and not JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return garbage(raw, 'JSON status must be an object');
  }
  const object = parsed as Record<string, unknown>;
  const data = cleanData(object['data']);
  if ('result_bits' in object) {
    const bits = object['result_bits'];
    const problem = resultBitsProblem(bits);
    if (problem) return garbage(raw, problem);
    return withData(bits as number, data);
  }
  if ('result' in object) {
    const result = object['result'];
    const bits = typeof result === 'string' ? labelBits(result) : undefined;
    if (bits === undefined) return garbage(raw, `unknown result ${JSON.stringify(result)}`);
    return withData(bits, data);
  }
  return garbage(raw, 'JSON status needs "result" or "result_bits"');
}

function resultBitsProblem(bits: unknown): string | undefined {
  if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < 0 || bits > ALL_KNOWN_BITS) {
    return 'result_bits must be a non-negative integer of known bits';
  }
  if (bits & FORBIDDEN_BITS)
    return 'result_bits may not contain UNSTARTED, RUNNING, AVOIDED, DISABLED or HAS_SAVED_BACKOFF';
  const current = bits & CURRENT_STATUS_BITS & REPORTABLE_CURRENT;
  if (current === 0 || (current & (current - 1)) !== 0) {
    return 'result_bits must contain exactly one of DONE, INCOMPLETE, FAILED, ERROR';
  }
  if (bits & B.USES_BACKOFF && !(bits & (B.ERROR | B.DOES_NOT_ADVANCE_BACKOFF))) {
    return 'USES_BACKOFF needs ERROR or DOES_NOT_ADVANCE_BACKOFF';
  }
  return undefined;
}

/** `data` is kept only when present and non-empty; the private saved-backoff key is removed. */
function cleanData(data: unknown): unknown {
  if (data === undefined || data === null) return undefined;
  if (typeof data === 'object' && !Array.isArray(data)) {
    const { __bistro_saved_backoff: _saved, ...rest } = data as Record<string, unknown>;
    return Object.keys(rest).length > 0 ? rest : undefined;
  }
  return data;
}

function withData(bits: number, data: unknown): StatusReport {
  return data === undefined ? { bits } : { bits, data };
}

function garbage(raw: string, reason: string): StatusReport {
  return {
    bits: B.ERROR | B.USES_BACKOFF,
    data: { exception: `Cannot parse status: ${raw}, ${reason}`, raw_status: raw },
  };
}
