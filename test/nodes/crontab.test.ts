// Standard crontab items use the local time zone; pin one with DST.
process.env.TZ = 'America/New_York';

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCrontabItem, type CrontabItem } from '../../src/nodes/crontab/crontabItem.js';

/** Epoch seconds of a UTC ISO time, computed independently of the code under test. */
const utc = (iso: string) => Date.parse(`${iso}Z`) / 1000;

function item(input: unknown): CrontabItem {
  const parsed = parseCrontabItem(input);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}

const DST = ['skip', 'repeat_use_both'];

describe('crontab items', () => {
  it('daily at 03:30 local across the spring-forward day', () => {
    const events = item({ minute: 30, hour: 3, dst_fixes: DST }).eventsBetween(
      utc('2026-03-06T00:00:00'),
      utc('2026-03-09T12:00:00'),
    );
    // EST (UTC-5) before the jump on 2026-03-08, EDT (UTC-4) from then on.
    assert.deepEqual(events, [1772785800, 1772872200, 1772955000, 1773041400]);
  });

  it('a time skipped by spring-forward: skip drops it, unskip fires 1 s before the jump', () => {
    const window = [utc('2026-03-07T00:00:00'), utc('2026-03-09T12:00:00')] as const;
    const skip = item({ minute: 30, hour: 2, dst_fixes: ['skip', 'repeat_use_both'] }).eventsBetween(
      ...window,
    );
    assert.deepEqual(skip, [1772868600, 1773037800]);
    const unskip = item({ minute: 30, hour: 2, dst_fixes: ['unskip', 'repeat_use_both'] }).eventsBetween(
      ...window,
    );
    // The jump is 2026-03-08 07:00:00Z (02:00 EST -> 03:00 EDT).
    assert.deepEqual(unskip, [1772868600, 1772953199, 1773037800]);
  });

  it('a time repeated by fall-back: both, only early, only late', () => {
    const window = [utc('2026-10-31T00:00:00'), utc('2026-11-02T12:00:00')] as const;
    const run = (fix: string) =>
      item({ minute: 30, hour: 1, dst_fixes: ['skip', fix] }).eventsBetween(...window);
    // 01:30 EDT = 05:30Z, 01:30 EST = 06:30Z on 2026-11-01.
    assert.deepEqual(run('repeat_use_both'), [1793424600, 1793511000, 1793514600, 1793601000]);
    assert.deepEqual(run('repeat_use_only_early'), [1793424600, 1793511000, 1793601000]);
    assert.deepEqual(run('repeat_use_only_late'), [1793424600, 1793514600, 1793601000]);
  });

  it('weekday and month names, case-insensitive, short and full', () => {
    const events = item({
      minute: 0,
      hour: 9,
      day_of_week: ['Mon', 'friday'],
      month: 'sEpTember',
      dst_fixes: DST,
    }).eventsBetween(utc('2026-09-03T00:00:00'), utc('2026-09-12T00:00:00'));
    // Fri 4, Mon 7, Fri 11 September 2026 at 09:00 EDT.
    assert.deepEqual(events, [1788526800, 1788786000, 1789131600]);
    const sunday = item({ minute: 0, hour: 0, day_of_week: 1, dst_fixes: DST }).eventsBetween(
      utc('2026-09-05T00:00:00'),
      utc('2026-09-07T00:00:00'),
    );
    assert.deepEqual(sunday, [utc('2026-09-06T04:00:00')], '1 = Sunday');
  });

  it('a day of month that a month lacks is skipped', () => {
    const events = item({ minute: 0, hour: 10, day_of_month: 31, dst_fixes: DST }).eventsBetween(
      utc('2026-01-01T00:00:00'),
      utc('2026-06-15T00:00:00'),
    );
    assert.deepEqual(events, [1769871600, 1774965600, 1780236000]);
  });

  it('ranges with periods; an empty array matches everything', () => {
    const events = item({
      minute: { start: 0, end: 59, period: 15 },
      hour: { start: 9, end: 17, period: 4 },
      day_of_month: [],
      year: { start: 2026, end: 2026 },
      dst_fixes: DST,
    }).eventsBetween(utc('2026-07-01T00:00:00'), utc('2026-07-02T00:00:00'));
    assert.equal(events.length, 12);
    assert.equal(events[0], utc('2026-07-01T13:00:00'), '09:00 EDT');
    assert.equal(events[1], utc('2026-07-01T13:15:00'));
    assert.equal(events[11], utc('2026-07-01T21:45:00'), '17:45 EDT');
    const nextYear = item({ minute: 0, hour: 0, year: 2026, dst_fixes: DST }).eventsBetween(
      utc('2027-01-01T00:00:00'),
      utc('2027-02-01T00:00:00'),
    );
    assert.deepEqual(nextYear, []);
  });

  it('epoch items: period, start, end and explicit lists, independent of the time zone', () => {
    assert.deepEqual(
      item({ epoch: { period: 300, start: 100, end: 1000 } }).eventsBetween(0, 2000),
      [100, 400, 700, 1000],
    );
    assert.deepEqual(
      item({ epoch: { period: 300, start: 100, end: 1000 } }).eventsBetween(150, 700),
      [400, 700],
    );
    assert.deepEqual(item({ epoch: { period: 900 } }).eventsBetween(1799, 3600), [1800, 2700, 3600]);
    assert.deepEqual(item({ epoch: [30, 10, 20] }).eventsBetween(10, 30), [20, 30]);
    assert.deepEqual(item({ epoch: 5 }).eventsBetween(0, 10), [5]);
  });

  it('rejects malformed items with a message', () => {
    const cases: [unknown, RegExp][] = [
      [{ hour: 1, dst_fixes: DST }, /required key "minute" is missing/],
      [{ minute: 1 }, /required key "dst_fixes" is missing/],
      [{ minute: 1, dst_fixes: ['skip'] }, /"dst_fixes" must be an array with exactly one of skip\/unskip/],
      [{ minute: 1, dst_fixes: ['skip', 'unskip', 'repeat_use_both'] }, /exactly one/],
      [{ minute: 60, dst_fixes: DST }, /minute: 60 is out of range \[0, 59\]/],
      [{ minute: 0, month: 'Smarch', dst_fixes: DST }, /month: unknown name "Smarch"/],
      [{ minute: 'five', dst_fixes: DST }, /minute: expected an integer, received "five"/],
      [{ minute: 0, day_of_month: 1, day_of_week: 2, dst_fixes: DST }, /cannot both be set/],
      [{ minute: 0, second: 0, dst_fixes: DST }, /unknown crontab key "second"/],
      [{ minute: { period: 59 }, dst_fixes: DST }, /minute: period must be an integer from 1 to 58/],
      [{ minute: { start: 30, end: 10 }, dst_fixes: DST }, /start 30 is after end 10/],
      [{ minute: { every: 5 }, dst_fixes: DST }, /unknown key "every"/],
      [{ minute: 0, month: 'feb', day_of_month: 30, dst_fixes: DST }, /never matches/],
      [{ epoch: { period: 0 } }, /epoch: period must be an integer/],
      [{ epoch: -5 }, /epoch: -5 is out of range/],
      ['0 * * * *', /expected a crontab object/],
    ];
    for (const [input, expected] of cases) {
      const parsed = parseCrontabItem(input);
      assert.equal(typeof parsed, 'string', JSON.stringify(input));
      assert.match(parsed as string, expected);
    }
  });
});
