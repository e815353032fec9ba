import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EligibilityCache } from '../../src/scheduler/eligibility.js';
import { fnv1a64, passesFraction } from '../../src/scheduler/fractionHash.js';
import { jobHistogram } from '../../src/scheduler/histogram.js';
import { statusCode, StatusBits as B } from '../../src/statuses/taskStatus.js';
import { hostsAndDbs, Scene } from '../helpers/scene.js';

function referenceFnv(text: string): bigint {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash;
}

describe('fraction_of_nodes hash', () => {
  it('is 64-bit FNV-1a of node + NUL + job', () => {
    for (const text of ['', 'a', 'db17\u0000job', 'ünïcödé\u0000x', 'x'.repeat(300)]) {
      const [hi, lo] = fnv1a64(text);
      assert.equal((BigInt(hi) << 32n) | BigInt(lo), referenceFnv(text), JSON.stringify(text));
    }
  });

  it('selects about the requested fraction, stably', () => {
    let count = 0;
    for (let i = 0; i < 10000; i++) if (passesFraction(`node${i}`, 'job', 0.25)) count++;
    assert.ok(count > 2300 && count < 2700, `${count}`);
    assert.equal(passesFraction('node1', 'job', 0.25), passesFraction('node1', 'job', 0.25));
    const [hi] = fnv1a64('node1\u0000job');
    assert.equal(passesFraction('node1', 'job', 0.5), hi < 2 ** 31);
  });
});

describe('monitor histogram', () => {
  it('ORs task bits up the tree and marks avoided and disabled nodes', async () => {
    const scene = await Scene.create(
      hostsAndDbs({ h1: ['d1', 'd2'], h2: ['d3', 'd4'], d4: { disabled: true } }, {}, { backoff: [100] }),
      {
        j: { owner: 'me', filters: { db: { blacklist: ['d3'] } } },
      },
    );
    scene.pass(1000);
    scene.finish('j', 'd1', 'done');
    scene.finish('j', 'd2', 'error_backoff');
    const index = scene.scheduler.nodeIndex(scene.nodes, scene.config, scene.statuses);
    const histogram = jobHistogram(
      scene.config.jobs.get('j')!,
      scene.config,
      index,
      scene.statuses,
      new EligibilityCache(),
      1010,
      5,
    );
    const code = (bits: number) => statusCode(bits);
    assert.deepEqual(histogram.counts['db'], {
      [code(B.DONE)]: 1,
      [code(B.ERROR | B.USES_BACKOFF)]: 1,
      [code(B.AVOIDED)]: 1,
      [code(B.DISABLED)]: 1,
    });
    assert.deepEqual(histogram.counts['host'], {
      [code(B.DONE | B.ERROR | B.USES_BACKOFF)]: 1,
      [code(B.AVOIDED | B.DISABLED)]: 1,
    });
    assert.deepEqual(histogram.samples['db']![code(B.DONE)], ['d1']);
    const later = jobHistogram(
      scene.config.jobs.get('j')!,
      scene.config,
      index,
      scene.statuses,
      new EligibilityCache(),
      5000,
      0,
    );
    assert.equal(later.counts['db']![code(B.ERROR)], 1, 'backoff over: USES_BACKOFF dropped');
  });
});
