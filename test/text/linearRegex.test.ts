/** User regexes on the linear-time engine: search semantics, refusals, and no catastrophic backtracking. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileLinearRegex, linearRegexProblem, RegexSyntaxError } from '../../src/text/linearRegex.js';

describe('linear regex', () => {
  it('searches like RegExp.test', () => {
    const regex = compileLinearRegex('^db[0-9]+$');
    assert.ok(regex.test('db12'));
    assert.ok(!regex.test('xdb12'));
    assert.ok(compileLinearRegex('b1').test('db12'), 'unanchored patterns search');
  });

  it('refuses what RE2 does not support, with the reason', () => {
    assert.throws(() => compileLinearRegex('(a)\\1'), RegexSyntaxError);
    assert.match(linearRegexProblem('(?=a)')!, /Perl syntax/);
    assert.match(linearRegexProblem('x'.repeat(5000))!, /longer than/);
    assert.equal(linearRegexProblem('(a+)+$'), undefined);
  });

  it('(a+)+$ over a long line of a…! is one scan', () => {
    const line = `${'a'.repeat(100_000)}!`;
    // A backtracking engine would not finish this in the lifetime of the test run.
    assert.equal(compileLinearRegex('(a+)+$').test(line), false);
    assert.equal(compileLinearRegex('(a|aa)+$').test(line), false);
  });
});
