/**
 * Regular expressions from users (job filters, `task_logs` `regex_filter`,
 * `job_node_statuses` `regex`) run on RE2's linear-time engine, never on
 * JavaScript's backtracking one: `(a+)+$` over a long line costs a scan, not
 * an exponential search that would freeze the scheduler's event loop.
 *
 * RE2 syntax is Perl's without backreferences and lookaround; a pattern that
 * uses those is refused with the engine's message. Search semantics, as
 * RegExp.test: anchor with ^...$ for a full match.
 */
import { RE2JS } from 're2js';

/** Longest pattern accepted; RE2 programs grow with the pattern. */
export const MAX_PATTERN_LENGTH = 4096;

export class RegexSyntaxError extends Error {
  constructor(
    readonly pattern: string,
    reason: string,
  ) {
    super(reason);
    this.name = 'RegexSyntaxError';
  }
}

export interface LinearRegex {
  readonly source: string;
  /** Whether the pattern matches anywhere in `text`. */
  test(text: string): boolean;
}

/** Compiles `pattern` once; throws RegexSyntaxError for what RE2 does not accept. */
export function compileLinearRegex(pattern: string): LinearRegex {
  if (pattern.length > MAX_PATTERN_LENGTH)
    throw new RegexSyntaxError(pattern, `longer than ${MAX_PATTERN_LENGTH} characters`);
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (error) {
    throw new RegexSyntaxError(pattern, (error as Error).message);
  }
  return { source: pattern, test: (text) => compiled.test(text) };
}

/** The reason `pattern` is refused, or undefined when it compiles. */
export function linearRegexProblem(pattern: string): string | undefined {
  try {
    compileLinearRegex(pattern);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
