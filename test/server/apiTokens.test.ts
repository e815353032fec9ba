import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseApiTokens, tokenHolder } from '../../src/server/apiTokens.js';

describe('API tokens', () => {
  it('one bare token is held by "token"; NAME TOKEN lines name their holders', () => {
    assert.deepEqual(parseApiTokens('s3cret\n', 'f'), [{ name: 'token', token: 's3cret' }]);
    const tokens = parseApiTokens('# comment\nalice aaa111\n\nbob   bbb222\n', 'f');
    assert.deepEqual(tokens, [
      { name: 'alice', token: 'aaa111' },
      { name: 'bob', token: 'bbb222' },
    ]);
    assert.equal(tokenHolder('Bearer bbb222', tokens), 'bob');
    assert.equal(tokenHolder('Bearer aaa111', tokens), 'alice');
    assert.equal(tokenHolder('Bearer aaa11', tokens), undefined);
    assert.equal(tokenHolder('aaa111', tokens), undefined);
    assert.equal(tokenHolder(undefined, tokens), undefined);
  });

  it('refuses an empty file, a malformed line and a repeated name, naming the file', () => {
    assert.throws(() => parseApiTokens('\n# only\n', 'tok'), /tok: the API token file is empty/);
    assert.throws(() => parseApiTokens('a b c\n', 'tok'), /tok: entry 1 must be TOKEN or "NAME TOKEN"/);
    assert.throws(() => parseApiTokens('a x\na y\n', 'tok'), /tok: two tokens have the same name/);
  });
});
