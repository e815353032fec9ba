/**
 * `physical_resources`: maps a job's logical
 * resources to physical limits. Locally, `ram_mb` with `enforcement: "hard"`
 * becomes the task cgroup's memory limit and `cpu_core` with
 * `enforcement: "soft"` its CPU weight; a mapped resource may sit at any level
 * (the original required the worker level, which a local runner ignores).
 */
import { z } from 'zod';
import type { ObjectReader } from './reader.js';
import type { ResourceDefinition } from './resources.js';
import { finiteNumber, nonNegativeNumber, string } from './values.js';

export const PHYSICAL_RESOURCE_ENFORCEMENT = {
  ram_mb: ['none', 'hard'],
  cpu_core: ['none', 'soft'],
  gpu_card: ['none'],
} as const;
export type PhysicalResourceName = keyof typeof PHYSICAL_RESOURCE_ENFORCEMENT;

export interface PhysicalResourceMapping {
  readonly logicalResource: string;
  readonly multiplyLogicalBy: number;
  readonly enforcement: 'none' | 'hard' | 'soft';
  readonly physicalReserveAmount: number;
}

export type PhysicalResources = Partial<Record<PhysicalResourceName, PhysicalResourceMapping>>;

export function readPhysicalResources(
  settings: ObjectReader,
  resources: readonly ResourceDefinition[],
): PhysicalResources {
  const reader = settings.object('physical_resources');
  if (!reader) return {};
  const out: PhysicalResources = {};
  const usedLogical = new Map<string, string>();
  for (const key of Object.keys(reader.input)) {
    if (!(key in PHYSICAL_RESOURCE_ENFORCEMENT)) {
      reader.invalid(
        [key],
        `unknown physical resource; expected one of ${Object.keys(PHYSICAL_RESOURCE_ENFORCEMENT).join(', ')}`,
        key,
      );
      reader.accept(key);
      continue;
    }
    const name = key as PhysicalResourceName;
    const entry = reader.object(name);
    if (!entry) continue;
    const allowed = PHYSICAL_RESOURCE_ENFORCEMENT[name];
    const enforcement = z.enum(allowed).describe(`one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
    const logicalResource = entry.required('logical_resource', string, '');
    if (entry.has('logical_resource') && logicalResource !== '') {
      if (!resources.some((r) => r.name === logicalResource)) {
        entry.invalid(
          ['logical_resource'],
          `unknown resource ${JSON.stringify(logicalResource)}`,
          logicalResource,
        );
      } else if (usedLogical.has(logicalResource)) {
        entry.invalid(
          ['logical_resource'],
          `resource ${JSON.stringify(logicalResource)} is already mapped by "${usedLogical.get(logicalResource)}"`,
          logicalResource,
        );
      }
      usedLogical.set(logicalResource, name);
    }
    const multiplyLogicalBy = entry.optional('multiply_logical_by', finiteNumber, 1);
    if (Math.abs(multiplyLogicalBy) < 1e-9) {
      entry.invalid(['multiply_logical_by'], 'must not be zero', multiplyLogicalBy);
    }
    out[name] = {
      logicalResource,
      multiplyLogicalBy,
      enforcement: entry.optional('enforcement', enforcement, 'none'),
      physicalReserveAmount: entry.optional('physical_reserve_amount', nonNegativeNumber, 0),
    };
    entry.finish();
  }
  return out;
}

export function serializePhysicalResources(physical: PhysicalResources): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, mapping] of Object.entries(physical)) {
    out[name] = {
      logical_resource: mapping.logicalResource,
      multiply_logical_by: mapping.multiplyLogicalBy,
      enforcement: mapping.enforcement,
      physical_reserve_amount: mapping.physicalReserveAmount,
    };
  }
  return out;
}
