/**
 * Job `filters`: per level, which nodes a job may start on. Regexes use RE2
 * syntax (Perl's, without backreferences or lookaround) on a linear-time
 * engine, with search semantics (anchor with ^...$ for a full match). `fraction_of_nodes` <= 0 means all nodes, as in the original.
 */
import { z } from 'zod';
import { linearRegexProblem } from '../text/linearRegex.js';
import { describeValue } from './issues.js';
import type { ObjectReader } from './reader.js';
import { finiteNumber, stringArray } from './values.js';

export interface NodeFilter {
  readonly whitelist: readonly string[];
  readonly whitelistRegex: string;
  readonly blacklist: readonly string[];
  readonly blacklistRegex: string;
  /** In (0, 1]; 1 disables the check. */
  readonly fractionOfNodes: number;
  readonly tagWhitelist: readonly string[];
}

export const EMPTY_FILTER: NodeFilter = {
  whitelist: [],
  whitelistRegex: '',
  blacklist: [],
  blacklistRegex: '',
  fractionOfNodes: 1,
  tagWhitelist: [],
};

const regexSource = z
  .string()
  .superRefine((source, ctx) => {
    const problem = linearRegexProblem(source);
    if (problem !== undefined)
      ctx.addIssue({ code: 'custom', message: `invalid regular expression (${problem})` });
  })
  .describe('a regular expression string');

export function isTrivialFilter(filter: NodeFilter): boolean {
  return (
    filter.whitelist.length === 0 &&
    filter.whitelistRegex === '' &&
    filter.blacklist.length === 0 &&
    filter.blacklistRegex === '' &&
    filter.fractionOfNodes >= 1 &&
    filter.tagWhitelist.length === 0
  );
}

/** Reads `filters`; returns non-trivial filters keyed by level name. */
export function readFilters(job: ObjectReader, levels: readonly string[]): Record<string, NodeFilter> {
  const reader = job.object('filters');
  if (!reader) return {};
  const out: Record<string, NodeFilter> = {};
  for (const level of Object.keys(reader.input)) {
    if (!levels.includes(level)) {
      reader.invalid(
        [level],
        `unknown level ${JSON.stringify(level)}; levels are ${levels.join(', ')}`,
        reader.input[level],
      );
      reader.accept(level);
      continue;
    }
    const filter = reader.object(level);
    if (!filter) continue;
    let fraction = filter.optional('fraction_of_nodes', finiteNumber, 1);
    if (fraction <= 0 || fraction > 1) {
      if (fraction > 1)
        filter.invalid(
          ['fraction_of_nodes'],
          `expected a number <= 1, received ${describeValue(fraction)}`,
          fraction,
        );
      fraction = 1;
    }
    const parsed: NodeFilter = {
      whitelist: filter.optional('whitelist', stringArray, []),
      whitelistRegex: filter.optional('whitelist_regex', regexSource, ''),
      blacklist: filter.optional('blacklist', stringArray, []),
      blacklistRegex: filter.optional('blacklist_regex', regexSource, ''),
      fractionOfNodes: fraction,
      tagWhitelist: filter.optional('tag_whitelist', stringArray, []),
    };
    filter.finish();
    if (!isTrivialFilter(parsed)) out[level] = parsed;
  }
  return out;
}

export function serializeFilter(filter: NodeFilter): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (filter.whitelist.length > 0) out.whitelist = [...filter.whitelist];
  if (filter.whitelistRegex !== '') out.whitelist_regex = filter.whitelistRegex;
  if (filter.blacklist.length > 0) out.blacklist = [...filter.blacklist];
  if (filter.blacklistRegex !== '') out.blacklist_regex = filter.blacklistRegex;
  if (filter.fractionOfNodes < 1) out.fraction_of_nodes = filter.fractionOfNodes;
  if (filter.tagWhitelist.length > 0) out.tag_whitelist = [...filter.tagWhitelist];
  return out;
}
