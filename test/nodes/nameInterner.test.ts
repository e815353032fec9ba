import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { NameInterner } from '../../src/nodes/nameInterner.js';

describe('name interner', () => {
  it('gives each distinct name the next id, the same id again, and the name back (as a Map would)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'binary', maxLength: 6 }), { maxLength: 3000 }),
        fc.array(fc.string({ maxLength: 6 }), { maxLength: 50 }),
        fc.nat(5000),
        (names, probes, reserved) => {
          const interner = new NameInterner();
          if (reserved > 0) interner.reserve(reserved);
          const model = new Map<string, number>();
          for (const name of names) {
            if (!model.has(name)) model.set(name, model.size);
            assert.equal(interner.intern(name), model.get(name));
          }
          assert.equal(interner.size, model.size);
          for (const [name, id] of model) {
            assert.equal(interner.lookup(name), id);
            assert.equal(interner.name(id), name);
          }
          for (const probe of probes) assert.equal(interner.lookup(probe), model.get(probe) ?? -1);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps ids across growth and a late reserve, and refuses an unknown id', () => {
    const interner = new NameInterner();
    for (let i = 0; i < 5000; i++) assert.equal(interner.intern(`host${i}.db`), i);
    interner.reserve(200_000);
    for (let i = 0; i < 5000; i++) assert.equal(interner.lookup(`host${i}.db`), i);
    assert.equal(interner.intern('new'), 5000);
    assert.equal(interner.lookup('absent'), -1);
    assert.throws(() => interner.name(5001), RangeError);
  });

  it('serves lookups and new names while a sliced reserve fills the larger table', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20_000 }),
        fc.array(fc.string({ maxLength: 6 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 5 }),
        (before, during, factor) => {
          const names = new NameInterner();
          const ids = new Map<string, number>();
          const intern = (name: string) => {
            const id = names.intern(name);
            if (ids.has(name)) assert.equal(id, ids.get(name));
            else assert.equal(id, ids.size);
            ids.set(name, id);
          };
          for (let i = 0; i < before; i++) intern(`n${i}`);
          const steps = names.reserving((before + during.length) * factor + 1);
          let added = 0;
          for (let step = steps.next(); !step.done; step = steps.next()) {
            // Between slices: lookups and new names on the table still in use.
            if (added < during.length) intern(during[added++]!);
            if (before > 0) assert.equal(names.lookup(`n${before - 1}`), before - 1);
          }
          for (; added < during.length; added++) intern(during[added]!);
          for (const [name, id] of ids) assert.equal(names.lookup(name), id);
          assert.equal(names.lookup('never interned, never'), -1);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('gives back any name as it was given: empty, long, astral, lone surrogates', () => {
    const names = new NameInterner();
    const given = [
      '',
      'a',
      'x'.repeat(5000),
      'host-☃-𝔘',
      '\ud800',
      'é',
      'e\u0301',
      'x'.repeat(1024),
      'y'.repeat(1025),
    ];
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 20 }), { maxLength: 50 }), (more) => {
        for (const name of [...given, ...more]) {
          const id = names.intern(name);
          assert.equal(names.name(id), name);
          assert.equal(names.lookup(name), id);
        }
      }),
    );
    assert.notEqual(names.lookup('é'), names.lookup('e\u0301'));
  });
});
