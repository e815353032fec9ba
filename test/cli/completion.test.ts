/** `bistro completion bash|zsh`: the script completes commands and options from the real command tree. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runBistro } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'bistro-completion-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function complete(script: string, words: string[]): string[] {
  const file = join(dir, 'bistro.bash');
  writeFileSync(file, script);
  const array = words.map((word) => `'${word}'`).join(' ');
  const result = spawnSync(
    'bash',
    [
      '-c',
      `source ${file}; COMP_WORDS=(${array}); COMP_CWORD=${words.length - 1}; _bistro_complete; echo "\${COMPREPLY[*]}"`,
    ],
    { encoding: 'utf8', cwd: dir },
  );
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trim().split(/\s+/).filter(Boolean);
}

describe('shell completion', () => {
  const bash = runBistro(['completion', 'bash']);

  it('completes subcommands, nested ones and each command’s own options', () => {
    assert.equal(bash.status, 0, bash.stderr);
    assert.deepEqual(complete(bash.stdout, ['bistro', 'sch']), ['scheduler']);
    assert.ok(complete(bash.stdout, ['bistro', '']).includes('history'));
    assert.deepEqual(complete(bash.stdout, ['bistro', 'db', '']), ['migrate', '--help']);
    assert.deepEqual(complete(bash.stdout, ['bistro', 'scheduler', '--data']), ['--data-dir', '--database']);
    assert.deepEqual(complete(bash.stdout, ['bistro', 'history', 'j', 'n', '--ev']), ['--events']);
  });

  it('gives zsh the same script through bashcompinit, and refuses other shells', () => {
    const zsh = runBistro(['completion', 'zsh']);
    assert.equal(zsh.status, 0);
    assert.match(zsh.stdout, /^autoload -U \+X bashcompinit && bashcompinit\n/);
    assert.ok(zsh.stdout.includes(bash.stdout.trim()));
    const fish = runBistro(['completion', 'fish']);
    assert.equal(fish.status, 2);
    assert.match(fish.stderr, /unknown shell "fish"; use bash or zsh/);
  });
});
