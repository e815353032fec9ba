/**
 * `bistro_settings`. Any problem here makes the whole
 * config unusable, so the loader keeps the last good config instead.
 */
import { z } from 'zod';
import { DEFAULT_BACKOFF, parseBackoff, type BackoffSettings } from './backoff.js';
import { formatKeyPath, type ConfigIssue } from './issues.js';
import { parseKillDelay, type KillDelaySec } from './killDelay.js';
import { DEFAULT_KILL_REQUEST, readKillRequest, type KillRequest } from './killRequest.js';
import { readPhysicalResources, type PhysicalResources } from './physicalResources.js';
import { isPlainObject, ObjectReader, type IssueSink } from './reader.js';
import { readResources, type ResourceDefinition } from './resources.js';
import { DEFAULT_TASK_SUBPROCESS, readTaskSubprocess, type TaskSubprocessOptions } from './taskSubprocess.js';
import { boolean, integer, nonNegativeNumber, nonEmptyString } from './values.js';

export const POLICY_NAMES = ['roundrobin', 'randomized_priority', 'ranked_priority', 'long_tail'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];
export const NODE_ORDERS = ['original', 'lexicographic', 'random'] as const;
export type NodeOrder = (typeof NODE_ORDERS)[number];
export const WORKER_SELECTORS = ['roundrobin', 'busiest'] as const;
export const NODE_SOURCE_NAMES = ['manual', 'range_label', 'script', 'add_time', 'empty'] as const;
export type NodeSourceName = (typeof NODE_SOURCE_NAMES)[number];

export const INSTANCE_LEVEL = 'instance';
export const WORKER_LEVEL = 'worker';

export interface NodeSourceConfig {
  readonly source: NodeSourceName;
  readonly prefs: Readonly<Record<string, unknown>>;
}

export interface Settings {
  readonly enabled: boolean;
  readonly workingWaitSec: number;
  readonly idleWaitSec: number;
  readonly scheduler: PolicyName;
  readonly remoteWorkerSelector: (typeof WORKER_SELECTORS)[number];
  readonly backoff: BackoffSettings;
  /** Every level: `instance` (id 0), the configured ones, then `worker`. */
  readonly levels: readonly string[];
  readonly nodeSources: readonly NodeSourceConfig[];
  readonly nodeOrder: NodeOrder;
  readonly resources: readonly ResourceDefinition[];
  readonly levelForTasks: number;
  readonly killOrphanTasksAfterSec: KillDelaySec;
  readonly killTasksExceedingResourcesAfterSec: KillDelaySec;
  readonly taskSubprocess: TaskSubprocessOptions;
  readonly killSubprocess: KillRequest;
  readonly physicalResources: PhysicalResources;
  readonly workerResourcesOverride: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly exitInitialWaitBeforeTimestamp: number;
}

const policyName = z.enum(POLICY_NAMES).describe(`one of ${POLICY_NAMES.join(', ')}`);
const nodeOrder = z.enum(NODE_ORDERS).describe(`one of ${NODE_ORDERS.join(', ')}`);
const workerSelector = z.enum(WORKER_SELECTORS).describe('"roundrobin" or "busiest"');
const levelName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,100}$/)
  .describe('a level name of [A-Za-z0-9_.-]');
const sourceName = z
  .enum(NODE_SOURCE_NAMES)
  .describe(`a node source: one of ${NODE_SOURCE_NAMES.join(', ')}`);

export interface SettingsOptions {
  /** Mirrors the original's deprecated `--kill_job_if_disabled`: orphans are killed at once by default. */
  readonly killOrphansByDefault?: boolean;
}

/** Parses `bistro_settings`; issues go to `sink.errors` / `sink.warnings`. */
export function readSettings(input: unknown, sink: IssueSink, options: SettingsOptions = {}): Settings {
  const path = ['bistro_settings'];
  const reader = new ObjectReader(isPlainObject(input) ? input : {}, path, sink);
  if (!isPlainObject(input)) {
    sink.errors.push({
      path,
      message: input === undefined ? 'required key "bistro_settings" is missing' : 'expected an object',
      kind: input === undefined ? 'missing' : 'invalid',
      value: input,
    });
  }
  const levels = readLevels(reader);
  const nodes = reader.object('nodes', true);
  const nodeSources = nodes ? readNodeSources(nodes) : [];
  const nodeOrderValue = readNodeOrder(reader, nodes);
  nodes?.finish();

  const resources = readResources(reader, levels);
  const defaultTaskLevel = levels.length > 2 ? levels.length - 2 : 0;
  const levelForTasks = readLevelRef(reader, 'level_for_tasks', levels, defaultTaskLevel);

  const settings: Settings = {
    enabled: reader.optional('enabled', boolean, false),
    workingWaitSec: reader.optional('working_wait', nonNegativeNumber, 0.5),
    idleWaitSec: reader.optional('idle_wait', nonNegativeNumber, 5),
    scheduler: reader.optional('scheduler', policyName, 'roundrobin'),
    remoteWorkerSelector: reader.optional('remote_worker_selector', workerSelector, 'roundrobin'),
    backoff: readBackoffField(reader, DEFAULT_BACKOFF),
    levels,
    nodeSources,
    nodeOrder: nodeOrderValue,
    resources,
    levelForTasks,
    killOrphanTasksAfterSec: readKillDelayField(
      reader,
      'kill_orphan_tasks_after_sec',
      options.killOrphansByDefault ? 0 : null,
    ),
    killTasksExceedingResourcesAfterSec: readKillDelayField(
      reader,
      'kill_tasks_exceeding_resources_after_sec',
      null,
    ),
    taskSubprocess: readTaskSubprocess(reader, DEFAULT_TASK_SUBPROCESS),
    killSubprocess: readKillRequest(reader, DEFAULT_KILL_REQUEST),
    physicalResources: readPhysicalResources(reader, resources),
    workerResourcesOverride: readWorkerOverrides(reader, resources, levels),
    exitInitialWaitBeforeTimestamp: reader.optional('CAUTION_exit_initial_wait_before_timestamp', integer, 0),
  };
  reader.finish();
  return settings;
}

function readLevels(settings: ObjectReader): string[] {
  const nodes = settings.input['nodes'];
  const levels = [INSTANCE_LEVEL];
  if (!isPlainObject(nodes)) return [...levels, WORKER_LEVEL];
  const path = ['bistro_settings', 'nodes', 'levels'];
  const raw = nodes['levels'];
  if (raw === undefined) {
    settings.sink.errors.push({
      path,
      message: 'required key "levels" is missing',
      kind: 'missing',
      value: nodes,
    });
  } else if (!Array.isArray(raw)) {
    settings.sink.errors.push({
      path,
      message: 'expected an array of level names',
      kind: 'invalid',
      value: raw,
    });
  } else {
    raw.forEach((item: unknown, index) => {
      const parsed = levelName.safeParse(item);
      const at = [...path, index];
      if (!parsed.success) {
        settings.sink.errors.push({
          path: at,
          message: `expected a level name of [A-Za-z0-9_.-], received ${JSON.stringify(item)}`,
          kind: 'invalid',
          value: item,
        });
      } else if (parsed.data === INSTANCE_LEVEL || parsed.data === WORKER_LEVEL) {
        settings.sink.errors.push({
          path: at,
          message: `"${parsed.data}" is a reserved level name`,
          kind: 'invalid',
          value: item,
        });
      } else if (levels.includes(parsed.data)) {
        settings.sink.errors.push({
          path: at,
          message: `level "${parsed.data}" is listed twice`,
          kind: 'invalid',
          value: item,
        });
      } else {
        levels.push(parsed.data);
      }
    });
  }
  return [...levels, WORKER_LEVEL];
}

function readNodeSources(nodes: ObjectReader): NodeSourceConfig[] {
  nodes.accept('levels');
  const raw = nodes.raw('node_sources');
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    nodes.invalid(['node_sources'], 'expected an array of {"source": ..., "prefs": {...}}', raw);
    return [];
  }
  const out: NodeSourceConfig[] = [];
  raw.forEach((item: unknown, index) => {
    if (!isPlainObject(item)) {
      nodes.invalid(['node_sources', index], 'expected an object {"source": ..., "prefs": {...}}', item);
      return;
    }
    const entry = new ObjectReader(item, [...nodes.path, 'node_sources', index], nodes.sink);
    const source = entry.required('source', sourceName, 'empty');
    const prefs = entry.optional('prefs', z.record(z.string(), z.unknown()).describe('an object'), {});
    entry.finish();
    out.push({ source, prefs });
  });
  return out;
}

/** `node_order` lives in `nodes` (canonical) and is accepted at the top of settings too. */
function readNodeOrder(settings: ObjectReader, nodes: ObjectReader | undefined): NodeOrder {
  const inNodes = nodes?.has('node_order') ? nodes.optional('node_order', nodeOrder, 'random') : undefined;
  const topLevel = settings.has('node_order')
    ? settings.optional('node_order', nodeOrder, 'random')
    : undefined;
  settings.accept('node_order');
  if (inNodes !== undefined && topLevel !== undefined && inNodes !== topLevel) {
    settings.invalid(
      ['node_order'],
      `conflicts with nodes.node_order ("${inNodes}"); set it in one place`,
      settings.input['node_order'],
    );
  }
  return inNodes ?? topLevel ?? 'random';
}

/** Reads a level-name field; returns its level id. */
export function readLevelRef(
  reader: ObjectReader,
  key: string,
  levels: readonly string[],
  fallback: number,
): number {
  const name = reader.optional(key, nonEmptyString, levels[fallback] ?? INSTANCE_LEVEL);
  const id = levels.indexOf(name);
  if (id < 0) {
    reader.invalid([key], `unknown level ${JSON.stringify(name)}; levels are ${levels.join(', ')}`, name);
    return fallback;
  }
  return id;
}

export function readBackoffField(reader: ObjectReader, fallback: BackoffSettings): BackoffSettings {
  if (!reader.has('backoff')) return fallback;
  const parsed = parseBackoff(reader.raw('backoff'));
  if (typeof parsed === 'string') {
    reader.invalid(['backoff'], parsed, reader.input['backoff']);
    return fallback;
  }
  return parsed;
}

export function readKillDelayField(reader: ObjectReader, key: string, fallback: KillDelaySec): KillDelaySec {
  if (!reader.has(key)) {
    reader.accept(key);
    return fallback;
  }
  const parsed = parseKillDelay(reader.raw(key));
  if (typeof parsed === 'string') {
    reader.invalid([key], parsed, reader.input[key]);
    return fallback;
  }
  return parsed;
}

function readWorkerOverrides(
  settings: ObjectReader,
  resources: readonly ResourceDefinition[],
  levels: readonly string[],
): Record<string, Record<string, number>> {
  const reader = settings.object('worker_resources_override');
  if (!reader) return {};
  const workerLevel = levels.length - 1;
  const out: Record<string, Record<string, number>> = {};
  for (const worker of Object.keys(reader.input)) {
    const entry = reader.object(worker);
    if (!entry) continue;
    const overrides: Record<string, number> = {};
    for (const name of Object.keys(entry.input)) {
      const resource = resources.find((r) => r.name === name);
      if (!resource) entry.invalid([name], 'overriding unknown resource', name);
      else if (resource.levelId !== workerLevel)
        entry.invalid([name], 'overriding a resource that is not at the worker level', name);
      const amount = entry.optional(name, z.number().int().min(0).describe('an integer >= 0'), -1);
      if (resource && amount >= 0 && resource.levelId === workerLevel) overrides[name] = amount;
    }
    out[worker] = overrides;
  }
  return out;
}

/** One-line summary of settings issues, for the `Invalid config` error. */
export function summarizeIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((issue) => `${formatKeyPath(issue.path)}: ${issue.message}`).join('; ');
}
