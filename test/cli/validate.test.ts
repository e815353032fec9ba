import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PROJECT_ROOT, runBistro } from '../helpers/cli.js';

const examplesDir = join(PROJECT_ROOT, 'examples');
const brokenDir = join(PROJECT_ROOT, 'test', 'fixtures', 'broken');
const expectations = JSON.parse(readFileSync(join(brokenDir, 'expectations.json'), 'utf8')) as Record<
  string,
  string
>;

describe('bistro validate', () => {
  const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.json'));

  it('has examples to check', () => assert.ok(examples.length >= 3));

  for (const example of examples) {
    it(`exits 0 on examples/${example}`, () => {
      const result = runBistro(['validate', join('examples', example)]);
      assert.equal(result.status, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /: OK: \d+ job\(s\), 0 error\(s\), 0 warning\(s\)/);
    });
  }

  const fixtures = readdirSync(brokenDir).filter((f) => f.endsWith('.json') && f !== 'expectations.json');

  it('has a corpus of at least 15 broken configs, each with an expectation', () => {
    assert.ok(fixtures.length >= 15, `${fixtures.length} fixtures`);
    assert.deepEqual(fixtures.sort(), Object.keys(expectations).sort());
  });

  for (const fixture of fixtures) {
    it(`exits 1 on ${fixture} and names the key path`, () => {
      const result = runBistro(['validate', join(brokenDir, fixture)]);
      assert.equal(result.status, 1, result.stdout + result.stderr);
      assert.ok(
        result.stdout.includes(expectations[fixture]!),
        `expected "${expectations[fixture]}" in:\n${result.stdout}`,
      );
      assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /, 'no stack trace for a user mistake');
    });
  }

  it('prints a JSON report with --json', () => {
    const result = runBistro(['validate', '--json', join(brokenDir, 'job_missing_owner.json')]);
    assert.equal(result.status, 1);
    const report = JSON.parse(result.stdout) as {
      valid: boolean;
      errors: { path: string; message: string }[];
    };
    assert.equal(report.valid, false);
    assert.deepEqual(report.errors, [
      { path: 'bistro_job->nightly.owner', message: 'required key "owner" is missing' },
    ]);
  });

  it('names the file when it does not exist', () => {
    const result = runBistro(['validate', 'no/such/config.json']);
    assert.equal(result.status, 1);
    assert.match(result.stdout, /no\/such\/config\.json: cannot read config \(file not found\)/);
  });

  it('prints warnings for unknown keys without failing', () => {
    const result = runBistro(['validate', join(PROJECT_ROOT, 'test', 'fixtures', 'warnings.json')]);
    assert.equal(result.status, 0, result.stdout);
    assert.match(
      result.stdout,
      /warning: .*bistro_settings\.kill_subprocess: unknown key "kill_wait" ignored/,
    );
    assert.match(result.stdout, /warning: .*bistro_job->x: unknown key "comand" ignored/);
  });
});

describe('bistro nodes', () => {
  it('prints each level with its count and first names', () => {
    const result = runBistro([
      'nodes',
      'examples/db_hosts.json',
      '--instance-node-name',
      'sched1',
      '--limit',
      '2',
    ]);
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.match(lines[0]!, /^LEVEL\s+NODES\s+DISABLED\s+FIRST NAMES$/);
    assert.match(lines[1]!, /^instance\s+1\s+0\s+sched1$/);
    assert.match(lines[2]!, /^db_host\s+20\s+0\s+dbhost1, dbhost2, \.\.\. \(\+18\)$/);
    assert.match(lines[3]!, /^db\s+500\s+0\s+dbhost1\.shard0, dbhost1\.shard1, \.\.\. \(\+498\)$/);
  });

  it('prints the whole tree as JSON', () => {
    const result = runBistro(['nodes', 'examples/demo.json', '--instance-node-name', 'i', '--json']);
    assert.equal(result.status, 0, result.stderr);
    const tree = JSON.parse(result.stdout) as Record<string, { name: string; parent: string | null }[]>;
    assert.deepEqual(
      tree['level1']!.map((n) => n.name),
      ['node1', 'node2'],
    );
    assert.deepEqual(
      tree['level2']!.map((n) => `${n.parent}/${n.name}`),
      ['node1/node11', 'node1/node12', 'node2/node21', 'node2/node22'],
    );
  });

  it('fails clearly when a source fails', () => {
    const result = runBistro(['nodes', join(brokenDir, 'manual_too_deep.json')]);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /No top level nodes are defined/);
  });
});
