/**
 * The config in PostgreSQL (--config-in-database), on a throw-away cluster:
 * two schedulers share it; the standby refuses writes naming the leader; a
 * job saved through the leader reaches both through the notification (the
 * poll is set to a minute); history records who changed what; rollback
 * restores a job; a bad settings update changes nothing; a bad job in an
 * import is kept with its errors while the others run; import and export
 * round-trip the bundled examples byte for byte.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { DaemonProcess, IDENTITY_LOCK_DIR } from '../helpers/daemon.js';
import { call, freePort, post } from '../helpers/http.js';
import { waitFor } from '../helpers/processes.js';
import { clusterArgs, PostgresCluster, postgresUnavailable } from '../helpers/postgres.js';
import { PROJECT_ROOT, runBistro, type CliResult } from '../helpers/cli.js';
import { waitRole, type SchedulerUnderTest } from '../helpers/leader.js';

const EXAMPLES = join(PROJECT_ROOT, 'examples');
const ADMIN_TOKEN = 'admin-token-0123456789';
const SUBMITTER_TOKEN = 'submitter-token-987654';

let cluster: PostgresCluster | undefined;
let databases = 0;

type Scheduler = SchedulerUnderTest;

async function startScheduler(
  url: string,
  name: string,
  extra: string[] = [],
  leases = { leader: 2, worker: 3 },
): Promise<Scheduler> {
  const daemon = new DaemonProcess();
  daemon.configInDatabase = true;
  const tokens = join(daemon.dir, 'tokens');
  writeFileSync(tokens, `# name token\nadmin ${ADMIN_TOKEN}\nsubmitter ${SUBMITTER_TOKEN}\n`);
  const port = await freePort();
  daemon.start([
    ...clusterArgs(url, name, leases),
    '--config-update-ms',
    '60000',
    '--http-port',
    String(port),
    '--api-token-file',
    tokens,
    ...extra,
  ]);
  await daemon.withOutput(waitFor(() => /REST API listening/.test(daemon.output), 15_000, `${name} API`));
  return { daemon, port };
}

async function jobs(port: number): Promise<Record<string, { owner: string; errors?: unknown }>> {
  return (await call(port, 'jobs')).data as Record<string, { owner: string; errors?: unknown }>;
}

/** A config of `jobs` (name -> owner) on one node, run by the test task. */
function configFile(dir: string, daemon: DaemonProcess, owners: Record<string, string>): string {
  daemon.writeConfig(
    { nodes: { levels: ['db'], node_sources: [{ source: 'manual', prefs: { d1: [] } }] }, resources: {} },
    Object.fromEntries(
      Object.entries(owners).map(([name, owner]) => [
        name,
        { owner, config: { status: 'done', pid_dir: join(dir, 'pids'), lock_dir: join(dir, 'locks') } },
      ]),
    ),
  );
  const file = join(dir, 'config.json');
  writeFileSync(file, readFileSync(daemon.configFile));
  return file;
}

const DONE = 4;

async function doneStatuses(url: string, job: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const rows = await client.query<{ bits: number }>('SELECT bits FROM statuses WHERE job = $1', [job]);
    return rows.rows.filter((row) => (row.bits & DONE) !== 0).length;
  } finally {
    await client.end();
  }
}

function importFile(url: string, file: string): CliResult {
  const imported = runBistro(['config', 'import', file, '--database', url]);
  assert.equal(imported.status, 0, imported.stderr);
  return imported;
}

const skipReason = postgresUnavailable();
if (skipReason) {
  console.log(`# config-in-database tests skipped: ${skipReason}`);
} else {
  describe('the config in PostgreSQL', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bistro-configdb-'));
    const started: Scheduler[] = [];
    before(async () => {
      cluster = await PostgresCluster.start();
    });
    after(async () => {
      for (const scheduler of started.reverse()) await scheduler.daemon.cleanup();
      await cluster?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('two schedulers share it; writes go through the leader and reach both within a second', async () => {
      const url = await cluster!.createDatabase(`configdb_${++databases}`);
      const seed = new DaemonProcess();
      importFile(url, configFile(dir, seed, { first: 'ops' }));
      await seed.cleanup();

      const a = await startScheduler(url, 'a');
      started.push(a);
      await waitRole(a, 'leader', 'a leads');
      const b = await startScheduler(url, 'b');
      started.push(b);
      await waitRole(b, 'standby', 'b stands by');
      assert.deepEqual(Object.keys(await jobs(a.port)), ['first']);
      assert.deepEqual(Object.keys(await jobs(b.port)), ['first']);

      // The standby refuses, naming the leader.
      const refused = await call(
        b.port,
        'save_job',
        { job_id: 'second', job: { owner: 'x' } },
        SUBMITTER_TOKEN,
      );
      assert.match(refused.error ?? '', /standby; the leader is a/);
      assert.equal((await jobs(b.port))['second'], undefined);

      // Through the leader: both see it within a second (the poll is a minute away).
      const saved = Date.now();
      const ok = await call(a.port, 'save_job', { job_id: 'second', job: { owner: 'v1' } }, SUBMITTER_TOKEN);
      assert.equal(ok.data, 'saved', ok.error);
      await a.daemon.withOutput(
        waitFor(async () => (await jobs(a.port))['second']?.owner === 'v1', 1000, 'the leader sees the job'),
      );
      await b.daemon.withOutput(
        waitFor(async () => (await jobs(b.port))['second']?.owner === 'v1', 1000, 'the standby sees the job'),
      );
      assert.ok(Date.now() - saved < 1500);
      // Both have the same version in force.
      const versionOf = async (port: number) =>
        /^bistro_config_version (\d+)$/m.exec(
          await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
        )?.[1];
      assert.equal(await versionOf(a.port), await versionOf(b.port));
      assert.ok(Number(await versionOf(a.port)) >= 2);

      // Without a token, a write is refused; with one, its name is the actor.
      const anonymous = await post(a.port, {
        q: { handler: 'save_job', job_id: 'second', job: { owner: 'v2' } },
      });
      assert.equal(anonymous.status, 401);
      assert.equal(
        (await call(a.port, 'save_job', { job_id: 'second', job: { owner: 'v2' } }, ADMIN_TOKEN)).data,
        'saved',
      );
      await waitFor(
        async () => (await jobs(b.port))['second']?.owner === 'v2',
        1000,
        'v2 reaches the standby',
      );

      // History: who, what, and the version each change replaced.
      const history = runBistro(['config', 'history', 'second', '--database', url, '--json']);
      assert.equal(history.status, 0, history.stderr);
      const versions = JSON.parse(history.stdout) as {
        version: number;
        actor: string;
        action: string;
        value: { owner: string } | null;
        previous_version: number | null;
      }[];
      assert.deepEqual(
        versions.map((v) => [v.actor, v.action, v.value?.owner]),
        [
          ['admin', 'save', 'v2'],
          ['submitter', 'save', 'v1'],
        ],
      );
      assert.equal(versions[0]!.previous_version, versions[1]!.version);
      assert.equal(versions[1]!.previous_version, null);
      const table = runBistro(['config', 'history', '--database', url]);
      assert.match(table.stdout, /VERSION +TIME +WHO +ACTION +ENTRY/);
      assert.match(table.stdout, /cli +import +bistro_job->first/);

      // Rollback restores the previous job, on both schedulers.
      const rollback = runBistro(['config', 'rollback', String(versions[1]!.version), '--database', url]);
      assert.equal(rollback.status, 0, rollback.stderr);
      assert.match(rollback.stdout, /bistro_job->second: restored as of version/);
      await waitFor(async () => (await jobs(a.port))['second']?.owner === 'v1', 1000, 'rolled back on a');
      await waitFor(async () => (await jobs(b.port))['second']?.owner === 'v1', 1000, 'rolled back on b');
      const missing = runBistro(['config', 'rollback', '999999', '--database', url]);
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /no config version 999999/);
      // By name: undo the job's latest change (here, the rollback itself), or a job's creation.
      const undo = runBistro(['config', 'rollback', 'second', '--database', url]);
      assert.equal(undo.status, 0, undo.stderr);
      assert.match(undo.stdout, /^bistro_job->second: restored as of version \d+/);
      await waitFor(async () => (await jobs(b.port))['second']?.owner === 'v2', 1000, 'undone on b');
      assert.equal(
        (await call(a.port, 'save_job', { job_id: 'third', job: { owner: 'x' } }, ADMIN_TOKEN)).data,
        'saved',
      );
      await waitFor(async () => (await jobs(b.port))['third'] !== undefined, 1000, 'third on b');
      const uncreate = runBistro(['config', 'rollback', '--job', 'third', '--database', url]);
      assert.match(uncreate.stdout, /^bistro_job->third: deleted/);
      await waitFor(async () => (await jobs(b.port))['third'] === undefined, 1000, 'third gone on b');

      // delete_job: gone from both, recorded as a delete.
      assert.equal((await call(a.port, 'delete_job', { job_id: 'second' }, ADMIN_TOKEN)).data, 'deleted');
      await waitFor(async () => (await jobs(b.port))['second'] === undefined, 1000, 'deleted on b');
      assert.match(
        (await call(a.port, 'delete_job', { job_id: 'second' }, ADMIN_TOKEN)).error ?? '',
        /Unknown job/,
      );
      const afterDelete = JSON.parse(
        runBistro(['config', 'history', 'second', '--database', url, '--json', '--limit', '1']).stdout,
      ) as { action: string; value: unknown; actor: string }[];
      assert.deepEqual(afterDelete, [{ ...afterDelete[0], action: 'delete', value: null, actor: 'admin' }]);

      // The job ran on the leader, from the shared config.
      await a.daemon.withOutput(
        waitFor(async () => (await doneStatuses(url, 'first')) === 1, 10_000, 'first ran'),
      );
    });

    it('settings: validated as bistro validate does, refused without --api-allow-command, the config in force kept', async () => {
      const url = await cluster!.createDatabase(`configdb_${++databases}`);
      const seed = new DaemonProcess();
      importFile(url, configFile(dir, seed, { only: 'ops' }));
      const settings = (
        JSON.parse(readFileSync(seed.configFile, 'utf8')) as Record<string, Record<string, unknown>>
      )['bistro_settings']!;
      await seed.cleanup();
      const plain = await startScheduler(url, 'plain');
      started.push(plain);
      await waitRole(plain, 'leader', 'plain leads');
      const forbidden = await call(plain.port, 'save_settings', { settings }, ADMIN_TOKEN);
      assert.match(forbidden.error ?? '', /--api-allow-command/);
      await plain.daemon.cleanup();
      started.pop();

      const admin = await startScheduler(url, 'admin', ['--api-allow-command']);
      started.push(admin);
      await waitRole(admin, 'leader', 'admin leads');
      const bad = await call(
        admin.port,
        'save_settings',
        { settings: { ...settings, backoff: 'soon' } },
        ADMIN_TOKEN,
      );
      assert.match(bad.error ?? '', /^Invalid config: bistro_settings\.backoff: /);
      const badSource = await call(
        admin.port,
        'save_settings',
        { settings: { ...settings, nodes: { levels: ['db'], node_sources: [{ source: 'nonsense' }] } } },
        ADMIN_TOKEN,
      );
      assert.match(badSource.error ?? '', /bistro_settings\.nodes\.node_sources/);
      const history = JSON.parse(
        runBistro(['config', 'history', '--settings', '--database', url, '--json']).stdout,
      ) as unknown[];
      assert.equal(history.length, 1, 'the refused updates wrote nothing');

      const good = await call(
        admin.port,
        'save_settings',
        { settings: { ...settings, enabled: false } },
        ADMIN_TOKEN,
      );
      assert.equal(good.data, 'saved', good.error);
      const exported = runBistro(['config', 'export', '--database', url]);
      assert.equal(
        (JSON.parse(exported.stdout) as { bistro_settings: { enabled: boolean } }).bistro_settings.enabled,
        false,
      );

      // A bad job through the API is refused; through an import it is kept with its errors.
      const badJob = await call(admin.port, 'save_job', { job_id: 'broken', job: { owner: 7 } }, ADMIN_TOKEN);
      assert.match(badJob.error ?? '', /invalid job: owner/);
      const withBadJob = JSON.parse(exported.stdout) as Record<string, unknown>;
      withBadJob['bistro_job->broken'] = { owner: 'x', priority: 'high' };
      const file = join(dir, 'bad-job.json');
      writeFileSync(file, JSON.stringify(withBadJob, null, 2));
      assert.match(
        importFile(url, file).stderr,
        /warning: bistro_job->broken\.priority: .*\(the job is kept and starts no task\)/,
      );
      await waitFor(
        async () => (await jobs(admin.port))['broken'] !== undefined,
        1000,
        'the bad job arrives',
      );
      const listed = await jobs(admin.port);
      assert.ok(listed['broken']!.errors, 'kept with its errors');
      assert.equal(listed['only']!.errors, undefined);

      // An import with invalid settings changes nothing.
      const invalid = join(dir, 'invalid.json');
      writeFileSync(invalid, JSON.stringify({ bistro_settings: { nodes: 5 } }));
      const refused = runBistro(['config', 'import', invalid, '--database', url]);
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /Invalid config: bistro_settings/);
      assert.ok((await jobs(admin.port))['only']);
    });

    it('a scheduler on a database without a config, or without --database, stops with a clear error', async () => {
      const url = await cluster!.createDatabase(`configdb_${++databases}`);
      const data = join(dir, 'empty-data');
      const empty = runBistro([
        'scheduler',
        '--config-in-database',
        '--database',
        url,
        '--data-dir',
        data,
        '--http-port',
        '0',
      ]);
      assert.equal(empty.status, 1, empty.stderr);
      assert.match(
        empty.stderr,
        /the database holds no config yet; load one with "bistro config import FILE --database URL"/,
      );
      // The failed start gave its instance identity back.
      const { id } = JSON.parse(readFileSync(join(data, 'instance.json'), 'utf8')) as { id: string };
      assert.equal(existsSync(join(IDENTITY_LOCK_DIR, `${id}.lock`)), false);
      const alone = runBistro(['scheduler', '--config-in-database', '--data-dir', data]);
      assert.equal(alone.status, 2);
      assert.match(alone.stderr, /--config-in-database needs --database/);
      const both = runBistro([
        'scheduler',
        '--config-in-database',
        '--config',
        'x.json',
        '--database',
        url,
        '--data-dir',
        data,
      ]);
      assert.equal(both.status, 2);
      assert.match(both.stderr, /either --config FILE or --config-in-database/);
    });

    it('a database outage makes a write a 503 to retry; afterwards writes and notifications resume', async () => {
      const url = await cluster!.createDatabase(`configdb_${++databases}`);
      const seed = new DaemonProcess();
      importFile(url, configFile(dir, seed, { first: 'ops' }));
      await seed.cleanup();
      // Leases well above the outage: this is about the config, not about failover.
      const leases = { leader: 10, worker: 20 };
      const a = await startScheduler(url, 'a', [], leases);
      started.push(a);
      await waitRole(a, 'leader', 'a leads', 15_000);
      const b = await startScheduler(url, 'b', [], leases);
      started.push(b);
      await waitRole(b, 'standby', 'b stands by', 15_000);

      cluster!.stopServer('immediate');
      try {
        const down = await post(
          a.port,
          { q: { handler: 'save_job', job_id: 'later', job: { owner: 'x' } } },
          ADMIN_TOKEN,
        );
        assert.equal(down.status, 503, JSON.stringify(down.body));
        assert.match((down.body as { q: { error: string } }).q.error, /the database is out of reach.*retry/);
      } finally {
        await cluster!.startServer();
      }
      await a.daemon.withOutput(
        waitFor(
          async () =>
            (await call(a.port, 'save_job', { job_id: 'later', job: { owner: 'x' } }, ADMIN_TOKEN)).data ===
            'saved',
          15_000,
          'a save after the outage',
        ),
      );
      // The standby's listener reconnected: it sees the job without waiting for its one-minute poll.
      await b.daemon.withOutput(
        waitFor(async () => (await jobs(b.port))['later'] !== undefined, 5_000, 'the standby sees it'),
      );
    });

    it('import and export round-trip every bundled example byte for byte', async () => {
      const url = await cluster!.createDatabase(`configdb_${++databases}`);
      const examples = readdirSync(EXAMPLES).filter((name) => name.endsWith('.json'));
      assert.ok(examples.length >= 3, examples.join(', '));
      for (const name of examples) {
        const file = join(EXAMPLES, name);
        importFile(url, file);
        const exported = runBistro(['config', 'export', '--database', url]);
        assert.equal(exported.status, 0, exported.stderr);
        assert.equal(exported.stdout, readFileSync(file, 'utf8'), name);
        const again = runBistro(['config', 'import', file, '--database', url]);
        assert.match(again.stdout, /already holds this config/);
      }
      // An entry inserted before unchanged ones, and entries reordered: the file's order wins.
      const settings = { enabled: false, nodes: { levels: [], node_sources: [] }, resources: {} };
      /** Imports settings and a job per key, in that order; returns the file's text. */
      const importKeys = (keys: string[]): string => {
        const file = join(dir, `order-${keys.join('')}.json`);
        const config = Object.fromEntries([
          ['bistro_settings', settings],
          ...keys.map((key) => [`bistro_job->${key}`, { owner: key }]),
        ]);
        writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
        importFile(url, file);
        return readFileSync(file, 'utf8');
      };
      for (const keys of [
        ['a', 'b'],
        ['a', 'c', 'b'],
        ['b', 'a', 'c'],
      ]) {
        const text = importKeys(keys);
        assert.equal(runBistro(['config', 'export', '--database', url]).stdout, text);
      }
      // An entry restored by rollback comes back at the end; a later import puts it in file order.
      importKeys(['a', 'b']);
      const wroteB = (
        JSON.parse(runBistro(['config', 'history', 'b', '--database', url, '--json']).stdout) as {
          version: number;
          value: unknown;
        }[]
      ).find((version) => version.value !== null)!.version;
      importKeys(['a']);
      assert.equal(runBistro(['config', 'rollback', String(wroteB), '--database', url]).status, 0);
      const expected = importKeys(['a', 'b', 'c']);
      assert.equal(runBistro(['config', 'export', '--database', url]).stdout, expected);
      // Any other layout round-trips value for value, in key order.
      const compact = join(dir, 'compact.json');
      const text =
        '{"bistro_job->b":{"owner":"x","config":{"z":1,"a":"}\\"{"}},"bistro_settings":{"enabled":false,"nodes":{"levels":[],"node_sources":[]},"resources":{}}}';
      writeFileSync(compact, text);
      importFile(url, compact);
      const exported = runBistro(['config', 'export', '--database', url]).stdout;
      assert.equal(JSON.stringify(JSON.parse(exported)), text);
    });
  });
}
