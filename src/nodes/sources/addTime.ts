/**
 * `add_time` source: time-stamped children. Each schedule
 * item is a crontab with a `lifetime` (the node exists that many seconds
 * after its timestamp), an optional `enabled_lifetime` (enabled only that
 * long) and `tags`. Items producing the same timestamp merge: tags are
 * unioned and the node is enabled only if every contributing item says so.
 * Timestamps are added in increasing order (the original left it unspecified).
 */
import { describeValue } from '../../config/issues.js';
import { isPlainObject, ObjectReader } from '../../config/reader.js';
import { positiveInteger, string, stringArray } from '../../config/values.js';
import { parseCrontabItem, type CrontabItem } from '../crontab/crontabItem.js';
import { compileNameTemplate } from '../nameFormat.js';
import { PAUSE_EVERY_NODES, readParentLevel, type NodeSourceCompiler } from './source.js';

interface ScheduleItem {
  readonly cron: CrontabItem;
  readonly lifetime: number;
  readonly enabledLifetime: number;
  readonly tags: readonly string[];
}

interface TimedNode {
  enabled: boolean;
  tags: Set<string>;
}

export const compileAddTime: NodeSourceCompiler = (prefs, settings) => {
  const parentLevel = readParentLevel(prefs, settings);
  const format = prefs.optional('format', string, '{parent}:{time}');
  const rawSchedule = prefs.raw('schedule') ?? [];
  prefs.finish();
  let template = compileNameTemplate(format, ['parent', 'time']);
  if (typeof template === 'string') {
    prefs.invalid(['format'], template, format);
    template = () => '';
  }
  const schedule: ScheduleItem[] = [];
  if (!Array.isArray(rawSchedule)) {
    prefs.invalid(
      ['schedule'],
      `expected an array of schedule items, received ${describeValue(rawSchedule)}`,
      rawSchedule,
    );
  } else {
    rawSchedule.forEach((raw: unknown, index) => {
      const item = readScheduleItem(
        raw,
        new ObjectReader(isPlainObject(raw) ? raw : {}, [...prefs.path, 'schedule', index], prefs.sink),
      );
      if (item) schedule.push(item);
    });
  }
  const name = template;
  return {
    name: 'add_time',
    async run(builder, context) {
      const timed = nodesAt(schedule, context.now);
      const times = [...timed.keys()].sort((a, b) => a - b);
      let added = 0;
      for (const parent of builder.nodesAtLevel(parentLevel)) {
        const parentName = builder.nameOf(parent);
        for (const time of times) {
          const node = timed.get(time)!;
          builder.add({
            name: name({ parent: parentName, time: String(time) }),
            level: parentLevel + 1,
            parent,
            enabled: node.enabled,
            tags: [...node.tags],
          });
          if (++added % PAUSE_EVERY_NODES === 0) await context.pause();
        }
      }
    },
  };
};

function readScheduleItem(raw: unknown, item: ObjectReader): ScheduleItem | undefined {
  if (!isPlainObject(raw)) {
    item.invalid([], `expected a schedule item object, received ${describeValue(raw)}`, raw);
    return undefined;
  }
  const lifetime = item.required('lifetime', positiveInteger, 0);
  const enabledLifetime = item.optional('enabled_lifetime', positiveInteger, lifetime);
  const tags = item.optional('tags', stringArray, []);
  const rawCron = item.raw('cron');
  item.finish();
  if (rawCron === undefined) {
    item.missing('cron');
    return undefined;
  }
  const cron = parseCrontabItem(rawCron);
  if (typeof cron === 'string') {
    item.invalid(['cron'], cron, rawCron);
    return undefined;
  }
  return lifetime > 0 ? { cron, lifetime, enabledLifetime, tags } : undefined;
}

/** Timestamps alive at `now`, merged across items. */
export function nodesAt(schedule: readonly ScheduleItem[], now: number): Map<number, TimedNode> {
  const timed = new Map<number, TimedNode>();
  for (const item of schedule) {
    for (const time of item.cron.eventsBetween(now - item.lifetime, now)) {
      const enabled = now - time < item.enabledLifetime;
      const node = timed.get(time);
      if (node) {
        node.enabled &&= enabled;
        for (const tag of item.tags) node.tags.add(tag);
      } else {
        timed.set(time, { enabled, tags: new Set(item.tags) });
      }
    }
  }
  return timed;
}
