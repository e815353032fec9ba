import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { readCgroupMounts } from '../../src/supervisor/containment/mounts.js';
import { native } from '../../src/supervisor/native.js';
import { BISTRO_BIN } from './cli.js';
import { isAlive, waitFor } from './processes.js';

export const TASK = fileURLToPath(new URL('../fixtures/tasks/task.mjs', import.meta.url));
export const E2E_SLICE = 'bistro-e2e.slice';
const V2_ROOT = readCgroupMounts().v2 ?? '/sys/fs/cgroup/unified';
const E2E_SLICE_DIR = join(V2_ROOT, E2E_SLICE);
const DEFAULT_SLICE_DIR = join(V2_ROOT, 'bistro.slice');
export const IDENTITY_LOCK_DIR = '/run/bistro/instances';

function subdirectories(dir: string): string[] {
  return existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => join(dir, e.name))
    : [];
}

/**
 * Task cgroups left under the end-to-end slice (`<slice>/<instance>/<invocation>`)
 * by instances that no longer run. A running scheduler keeps idle task cgroups
 * for its next tasks, so another test's live scheduler is never counted (nor touched).
 */
export function leftoverE2eCgroups(): string[] {
  return subdirectories(E2E_SLICE_DIR)
    .filter((instanceDir) => !instanceRuns(basename(instanceDir)))
    .flatMap(subdirectories);
}

/** Whether a scheduler holds instance `id`'s identity lock now. */
function instanceRuns(id: string): boolean {
  const lockFile = join(IDENTITY_LOCK_DIR, `${id}.lock`);
  if (!existsSync(lockFile)) return false;
  const fd = native().lockFile(lockFile);
  if (fd < 0) return true;
  native().closeFd(fd);
  return false;
}

/** Instance sub-trees under the end-to-end slice (a cleanly stopped scheduler removes its own). */
export function e2eInstanceCgroups(): string[] {
  return subdirectories(E2E_SLICE_DIR);
}

export interface StatusRow {
  job: string;
  node: string;
  bits: number;
  time: number;
  backoff_sec: number;
  data: string | null;
}

/** A real `bistro scheduler` process on a temp config and data dir. */
export class DaemonProcess {
  readonly dir = mkdtempSync(join(tmpdir(), 'bistro-daemon-'));
  readonly configFile = join(this.dir, 'config.json');
  /** Start with --config-in-database instead of --config (needs --database among the extra arguments). */
  configInDatabase = false;
  /** Its own by default; another daemon's to test what sharing one does. */
  readonly dataDir: string;
  readonly pidDir = join(this.dir, 'pids');
  readonly lockDir = join(this.dir, 'locks');
  child: ChildProcess | undefined;
  output = '';
  exit: Promise<number | null> = Promise.resolve(null);

  /** `bistro scheduler` by default; `worker` runs `bistro worker`, optionally inside a network namespace. */
  private readonly command: 'scheduler' | 'worker';
  private readonly prefix: readonly string[];

  constructor(
    options: { dataDir?: string; command?: 'scheduler' | 'worker'; prefix?: readonly string[] } = {},
  ) {
    this.dataDir = options.dataDir ?? join(this.dir, 'data');
    this.command = options.command ?? 'scheduler';
    this.prefix = options.prefix ?? [];
    mkdirSync(this.pidDir);
  }

  /** The instance identity the scheduler keeps in its data dir (once it has started). */
  instanceId(): string | undefined {
    const file = join(this.dataDir, 'instance.json');
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { id: string }).id : undefined;
  }

  /** Its task cgroups under the default slice (`bistro.slice/<instance>/...`), for default containment. */
  defaultSliceCgroups(): string[] {
    const id = this.instanceId();
    return id ? subdirectories(join(DEFAULT_SLICE_DIR, id)) : [];
  }

  writeConfig(settings: Record<string, unknown>, jobs: Record<string, Record<string, unknown>>): void {
    const config: Record<string, unknown> = {
      bistro_settings: {
        enabled: true,
        working_wait: 0.05,
        idle_wait: 0.1,
        task_subprocess: { cgroups: { version: 'v2', slice: E2E_SLICE } },
        ...settings,
      },
    };
    for (const [name, job] of Object.entries(jobs)) {
      config[`bistro_job->${name}`] = {
        owner: 'test',
        command: [TASK],
        ...job,
        config: { pid_dir: this.pidDir, lock_dir: this.lockDir, ...(job['config'] as object | undefined) },
      };
    }
    // Write then rename, as an editor would, so a poll never sees half a file.
    writeFileSync(`${this.configFile}.tmp`, JSON.stringify(config, null, 2));
    renameSync(`${this.configFile}.tmp`, this.configFile);
  }

  /** Writes an API token file in the temp dir; returns its path. */
  writeToken(token: string): string {
    const file = join(this.dir, 'token');
    writeFileSync(file, `${token}\n`);
    return file;
  }

  /** `waiting`, failing with the daemon's latest output appended (what happened while it waited). */
  async withOutput<T>(waiting: Promise<T>): Promise<T> {
    try {
      return await waiting;
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${this.output.slice(-6000)}`, { cause: error });
    }
  }

  writeRaw(text: string): void {
    writeFileSync(this.configFile, text);
  }

  start(extra: string[] = []): void {
    this.output = '';
    const args =
      this.command === 'worker'
        ? [BISTRO_BIN, 'worker', '--data-dir', this.dataDir, ...extra]
        : [
            BISTRO_BIN,
            'scheduler',
            ...(this.configInDatabase ? ['--config-in-database'] : ['--config', this.configFile]),
            '--data-dir',
            this.dataDir,
            '--config-update-ms',
            '50',
            '--instance-node-name',
            'inst',
            '--http-port',
            '0',
            ...extra,
          ];
    // `ip netns exec` execs the command itself: the child's pid is the worker's.
    const [file, ...rest] = [...this.prefix, process.execPath, ...args];
    const child = spawn(file!, rest, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BISTRO_LOG_LEVEL: 'debug' },
    });
    child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    this.child = child;
  }

  statuses(): StatusRow[] {
    const file = join(this.dataDir, 'statuses.sqlite');
    if (!existsSync(file)) return [];
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return db
        .prepare('SELECT job, node, bits, time, backoff_sec, data FROM statuses ORDER BY job, node')
        .all() as StatusRow[];
    } catch (error) {
      // The daemon may not have created its schema yet.
      if (/no such table/.test((error as Error).message)) return [];
      throw error;
    } finally {
      db.close();
    }
  }

  status(job: string, node: string): StatusRow | undefined {
    return this.statuses().find((row) => row.job === job && row.node === node);
  }

  async waitForStatuses(
    predicate: (rows: StatusRow[]) => boolean,
    timeoutMs = 15_000,
    what = 'statuses',
  ): Promise<StatusRow[]> {
    let rows: StatusRow[] = [];
    await waitFor(
      () => predicate((rows = this.statuses())),
      timeoutMs,
      `${what}; last: ${JSON.stringify(rows)}\n${this.output.slice(-3000)}`,
    );
    return rows;
  }

  /** Pids the tasks recorded, by (job-node), as {main, children}. */
  pids(): { tag: string; kind: string; pid: number }[] {
    return readdirSync(this.pidDir).map((name) => {
      const match = /^(.*)-(main|child)-(\d+)$/.exec(name)!;
      return { tag: match[1]!, kind: match[2]!, pid: Number(match[3]) };
    });
  }

  livePids(): number[] {
    return this.pids()
      .map((p) => p.pid)
      .filter(isAlive);
  }

  violations(): string[] {
    return existsSync(this.lockDir)
      ? readdirSync(this.lockDir).filter((name) => name.startsWith('VIOLATION'))
      : [];
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exit;
  }

  /**
   * Stops the daemon (gracefully if it runs), then kills anything left by pid
   * and removes leftover task cgroups and the temp dir. Returns what was left:
   * live pids and task cgroups, both of which a correct run leaves none of.
   */
  async cleanup(): Promise<{ pids: number[]; cgroups: string[] }> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timeout = new Promise((resolve) => setTimeout(resolve, 20_000).unref());
      if ((await Promise.race([this.exit.then(() => 'exited'), timeout])) !== 'exited')
        await this.stop('SIGKILL');
    }
    const leaked = this.livePids();
    const id = this.instanceId();
    // Its own sub-trees (it has stopped: anything there is left behind), and those of dead instances.
    const own = id ? [join(E2E_SLICE_DIR, id), join(DEFAULT_SLICE_DIR, id)].flatMap(subdirectories) : [];
    const cgroups = [...new Set([...leftoverE2eCgroups(), ...own])];
    for (const pid of leaked) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const dir of cgroups) {
      // Another scheduler of the same test may remove its own meanwhile.
      if (!existsSync(dir)) continue;
      writeFileSync(join(dir, 'cgroup.kill'), '1');
      await waitFor(
        () => !existsSync(dir) || !/populated 1/.test(readFileSync(join(dir, 'cgroup.events'), 'utf8')),
      );
      try {
        rmdirSync(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    // Instance sub-trees of schedulers this test SIGKILLed (empty once their tasks are gone).
    for (const dir of e2eInstanceCgroups().filter((instanceDir) => !instanceRuns(basename(instanceDir)))) {
      try {
        rmdirSync(dir);
      } catch (error) {
        // Another scheduler of the same test still runs tasks there; its own cleanup removes it.
        if (!['EBUSY', 'ENOTEMPTY'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
      }
    }
    if (id) {
      // What a SIGKILLed scheduler could not remove itself: its sub-tree and its identity lock.
      for (const dir of [join(DEFAULT_SLICE_DIR, id), join(E2E_SLICE_DIR, id)]) {
        if (existsSync(dir)) rmdirSync(dir);
      }
      rmSync(join(IDENTITY_LOCK_DIR, `${id}.lock`), { force: true });
    }
    rmSync(this.dir, { recursive: true, force: true });
    return { pids: leaked, cgroups };
  }
}
