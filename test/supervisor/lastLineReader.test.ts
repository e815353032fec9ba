/** The status pipe's reader: the last line wins, however the stream is cut into chunks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LastLineReader } from '../../src/supervisor/lastLineReader.js';

function lastLine(chunks: string[], maxBytes = 1000): string | undefined {
  const reader = new LastLineReader(maxBytes);
  for (const chunk of chunks) reader.push(Buffer.from(chunk));
  reader.end();
  return reader.last;
}

describe('LastLineReader', () => {
  it('keeps the last line, the unterminated tail, or an erasing empty line', () => {
    assert.equal(lastLine(['done\n']), 'done');
    assert.equal(lastLine(['do', 'ne\n']), 'done');
    assert.equal(lastLine(['failed\ndone']), 'done');
    assert.equal(lastLine(['done\n\n']), '');
    assert.equal(lastLine([]), undefined);
    assert.equal(lastLine(['x'.repeat(50) + '\n'], 10), 'x'.repeat(10), 'over-long lines keep their start');
  });

  it('agrees with splitting the whole stream, for any chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[ab\n]{0,12}$/), { maxLength: 8 }), (chunks) => {
        const text = chunks.join('');
        const lines = text.split('\n');
        // The last line written: the tail if any, else the line before the final newline.
        const expected = text === '' ? undefined : lines.at(-1) !== '' ? lines.at(-1) : lines.at(-2);
        assert.equal(lastLine(chunks), expected);
      }),
      { numRuns: 500 },
    );
  });
});
