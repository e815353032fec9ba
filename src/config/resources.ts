/**
 * `bistro_settings.resources`: per-level named slot counts.
 * Resource names form one namespace; reusing a name at two levels is an error
 * here (the original silently merged them).
 */
import { z } from 'zod';
import { describeValue } from './issues.js';
import type { ObjectReader } from './reader.js';
import { nonNegativeInteger } from './values.js';
import { ownChild, setOwn } from '../text/ownKeys.js';

export interface ResourceDefinition {
  readonly name: string;
  readonly levelId: number;
  /** Slots available on each node of the level. */
  readonly limit: number;
  /** What each task needs unless its job says otherwise. */
  readonly defaultAmount: number;
  /** Only used by the remote `busiest` worker selector. */
  readonly weight: number;
}

const resourceName = z
  .string()
  .regex(/^[A-Za-z0-9_.:\- ]{1,200}$/)
  .describe('a resource name');

export function readResources(settings: ObjectReader, levels: readonly string[]): ResourceDefinition[] {
  const reader = settings.object('resources', true);
  if (!reader) return [];
  const out: ResourceDefinition[] = [];
  const seen = new Map<string, string>();
  for (const levelName of Object.keys(reader.input)) {
    const levelReader = reader.object(levelName);
    const levelId = levels.indexOf(levelName);
    if (levelId < 0) {
      reader.invalid(
        [levelName],
        `unknown level ${JSON.stringify(levelName)}; levels are ${levels.join(', ')}`,
        levelName,
      );
      continue;
    }
    if (!levelReader) continue;
    for (const name of Object.keys(levelReader.input)) {
      const named = resourceName.safeParse(name);
      if (!named.success) {
        levelReader.invalid(
          [name],
          `expected a resource name of [A-Za-z0-9_.:- ], received ${describeValue(name)}`,
          name,
        );
        levelReader.accept(name);
        continue;
      }
      const previousLevel = seen.get(name);
      if (previousLevel !== undefined) {
        levelReader.invalid(
          [name],
          `resource "${name}" is already defined at level "${previousLevel}"`,
          name,
        );
        levelReader.accept(name);
        continue;
      }
      const resource = levelReader.object(name);
      if (!resource) continue;
      seen.set(name, levelName);
      out.push({
        name,
        levelId,
        limit: resource.required('limit', nonNegativeInteger, 0),
        defaultAmount: resource.required('default', nonNegativeInteger, 0),
        weight: resource.optional('weight', nonNegativeInteger, 0),
      });
      resource.finish();
    }
  }
  return out;
}

export function serializeResources(
  resources: readonly ResourceDefinition[],
  levels: readonly string[],
): Record<string, Record<string, { limit: number; default: number; weight?: number }>> {
  const out: Record<string, Record<string, { limit: number; default: number; weight?: number }>> = {};
  for (const resource of resources) {
    const level = ownChild(out, levels[resource.levelId]!, () => ({}));
    setOwn(level, resource.name, {
      limit: resource.limit,
      default: resource.defaultAmount,
      ...(resource.weight > 0 ? { weight: resource.weight } : {}),
    });
  }
  return out;
}
