import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { FileConfigLoader, type ConfigState } from '../../src/config/fileLoader.js';
import { ConfigError } from '../../src/config/issues.js';
import { configObject } from '../helpers/config.js';

describe('FileConfigLoader', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bistro-config-'));
    file = join(dir, 'config.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const write = (jobs: Record<string, unknown>, mtime?: Date) => {
    writeFileSync(file, JSON.stringify(configObject({}, jobs)));
    if (mtime) utimesSync(file, mtime, mtime);
  };

  it('fails at startup with the file name when the file is missing or invalid', () => {
    assert.throws(
      () => new FileConfigLoader(file),
      (error: unknown) =>
        error instanceof ConfigError &&
        /config\.json: cannot read config \(file not found\)/.test(error.message),
    );
    writeFileSync(file, '{"bistro_settings": ');
    assert.throws(() => new FileConfigLoader(file), /config\.json: invalid JSON/);
  });

  it('sees two edits within the same second (same mtime) by content', () => {
    const second = new Date(Math.floor(Date.now() / 1000) * 1000);
    write({ a: { owner: 'x' } }, second);
    const loader = new FileConfigLoader(file);
    assert.deepEqual([...loader.current().config.jobs.keys()], ['a']);
    write({ b: { owner: 'x' } }, second);
    assert.equal(loader.poll(), true);
    assert.deepEqual([...loader.current().config.jobs.keys()], ['b']);
    assert.equal(loader.current().generation, 2);
    assert.equal(loader.poll(), false, 'no change, no reload');
  });

  it('keeps the last good config when the file breaks, and recovers when it is fixed', () => {
    write({ a: { owner: 'x' } });
    const changes: ConfigState[] = [];
    const loader = new FileConfigLoader(file, { onChange: (state) => changes.push(state) });
    writeFileSync(file, '{ not json');
    assert.equal(loader.poll(), false);
    const broken = loader.current();
    assert.deepEqual([...broken.config.jobs.keys()], ['a'], 'a broken file is not "all jobs deleted"');
    assert.match(broken.error!.message, /invalid JSON/);
    writeFileSync(file, JSON.stringify({ bistro_settings: { nodes: {} } }));
    loader.poll();
    assert.match(
      loader.current().error!.message,
      /Invalid config: bistro_settings\.nodes\.levels: required key/,
    );
    assert.deepEqual([...loader.current().config.jobs.keys()], ['a']);
    rmSync(file);
    loader.poll();
    assert.match(loader.current().error!.message, /file not found/);
    write({ c: { owner: 'x' } });
    assert.equal(loader.poll(), true);
    assert.equal(loader.current().error, undefined);
    assert.deepEqual([...loader.current().config.jobs.keys()], ['c']);
    assert.equal(changes.length, 4);
  });

  it('keeps a job with errors as part of a good config', () => {
    write({ good: { owner: 'x' }, bad: { owner: 'x', priority: 'high' } });
    const loader = new FileConfigLoader(file);
    const jobs = loader.current().config.jobs;
    assert.equal(jobs.get('good')!.errors, undefined);
    assert.notEqual(jobs.get('bad')!.errors, undefined);
  });

  it('polls on a timer', async () => {
    write({ a: { owner: 'x' } });
    const loader = new FileConfigLoader(file);
    loader.start(20);
    write({ a: { owner: 'x' }, b: { owner: 'y' } });
    const deadline = Date.now() + 5000;
    while (loader.current().config.jobs.size !== 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    loader.stop();
    assert.equal(loader.current().config.jobs.size, 2);
  });
});
