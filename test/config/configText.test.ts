import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { entryText, joinConfigText, splitConfigText } from '../../src/config/configText.js';
import { ConfigError } from '../../src/config/issues.js';

describe('config text as entries', () => {
  it('keeps each entry exactly as written, even with brackets and quotes inside strings', () => {
    const text = '{ "a" : {"x": "}]\\"{[",\n   "n": 1.50},"b":[1, 2 ,3] ,"c":"s,t","d":-1e3,"e":null }';
    assert.deepEqual(splitConfigText(text), [
      { key: 'a', text: '{"x": "}]\\"{[",\n   "n": 1.50}' },
      { key: 'b', text: '[1, 2 ,3]' },
      { key: 'c', text: '"s,t"' },
      { key: 'd', text: '-1e3' },
      { key: 'e', text: 'null' },
    ]);
  });

  it('a repeated key keeps its last value, as JSON.parse does; an escaped key is decoded', () => {
    assert.deepEqual(splitConfigText('{"k":1,"\\u006b":2}'), [{ key: 'k', text: '2' }]);
  });

  it('refuses what is not a JSON object, naming the file', () => {
    assert.throws(
      () => splitConfigText('[1]', 'f.json'),
      (error) => error instanceof ConfigError && /f\.json: expected a JSON object/.test(error.message),
    );
    assert.throws(() => splitConfigText('{', 'f.json'), /f\.json: invalid JSON/);
  });

  it('any object in the standard two-space layout round-trips byte for byte', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }), (object) => {
        const text = `${JSON.stringify(object, null, 2)}\n`;
        assert.equal(joinConfigText(splitConfigText(text)), text);
      }),
    );
  });

  it('entries written from values land in the same layout', () => {
    const value = { owner: 'x', config: { list: [1, { y: 2 }] } };
    const text = joinConfigText([{ key: 'bistro_job->x', text: entryText(value) }]);
    assert.equal(text, `${JSON.stringify({ 'bistro_job->x': value }, null, 2)}\n`);
    assert.equal(joinConfigText([]), '{}\n');
  });
});
