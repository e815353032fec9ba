/**
 * Client commands over the REST API: jobs, tasks, status, logs, kill,
 * forgive, errors. Human tables by default, `--json` for scripts.
 */
import type { Command } from 'commander';
import type { WorkerAnswer } from '../../server/handlers/workers.js';
import { bitsFromCode, statusLabel, StatusBits as B } from '../../statuses/taskStatus.js';
import { DEFAULT_URL, query, type ClientOptions } from '../apiClient.js';
import { CliExit, formatTable, formatTime, printError, printJson, printLine } from '../output.js';

export function client(command: Command): Command {
  return command
    .option(
      '--url <url>',
      'the scheduler REST API (or $BISTRO_URL)',
      process.env['BISTRO_URL'] || DEFAULT_URL,
    )
    .option(
      '--token-file <file>',
      'file holding the bearer token (or $BISTRO_TOKEN_FILE)',
      process.env['BISTRO_TOKEN_FILE'],
    )
    .option('--json', 'print JSON')
    .option('--utc', 'print times in UTC (ISO 8601) instead of local time');
}

export function age(seconds: number): string {
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${Math.floor(seconds % 60)}s`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}

/** `done`, `error_backoff+avoided`, ... for a histogram code. */
export function codeLabel(code: string): string {
  const bits = bitsFromCode(code);
  const flags = [bits & B.AVOIDED ? 'avoided' : '', bits & B.DISABLED ? 'disabled' : ''].filter(Boolean);
  const current = bits & ~(B.AVOIDED | B.DISABLED);
  return [current ? statusLabel(current) : '', ...flags].filter(Boolean).join('+');
}

/** Exits 1 naming the jobs in `wanted` that the scheduler's config does not have. */
async function requireKnownJobs(
  options: ClientOptions,
  wanted: readonly string[] | undefined,
): Promise<void> {
  if (!wanted || wanted.length === 0) return;
  const known = (await query(options, 'jobs', { jobs: wanted })) as Record<string, unknown>;
  const unknown = wanted.filter((job) => !(job in known));
  if (unknown.length === 0) return;
  printError(`unknown job${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  throw new CliExit(1);
}

/** Exits 1 naming the nodes in `wanted` that the scheduler's node set does not have. */
async function requireKnownNodes(
  options: ClientOptions,
  wanted: readonly string[] | undefined,
): Promise<void> {
  if (!wanted || wanted.length === 0) return;
  const { results } = (await query(options, 'nodes', { nodes: wanted, fields: ['disabled'] })) as {
    results: Record<string, Record<string, unknown>>;
  };
  const known = new Set(Object.values(results).flatMap((byName) => Object.keys(byName)));
  const unknown = wanted.filter((node) => !known.has(node));
  if (unknown.length === 0) return;
  printError(`unknown node${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
  throw new CliExit(1);
}

/** Histogram codes as status names: {"job": {"level": {"done": 3, "error_backoff+avoided": 1}}}. */
function namedHistograms(
  histograms: Record<string, Record<string, Record<string, number>>>,
): Record<string, Record<string, Record<string, number>>> {
  return Object.fromEntries(
    Object.entries(histograms).map(([job, levels]) => [
      job,
      Object.fromEntries(
        Object.entries(levels).map(([level, codes]) => [
          level,
          Object.fromEntries(Object.entries(codes).map(([code, count]) => [codeLabel(code), count])),
        ]),
      ),
    ]),
  );
}

interface NodeStatusPage {
  total: number;
  nodes: {
    node: string;
    status: string;
    time?: number;
    message?: string;
    exit_code?: number;
    reason?: string;
  }[];
  partial?: boolean;
}

/** `status JOB [--status S]`: every node of the job (paged from the server), its status and last message. */
async function listJobNodes(options: ClientOptions, job: string, status: string | undefined): Promise<void> {
  const nodes: NodeStatusPage['nodes'] = [];
  const limit = 1000;
  for (let offset = 0; ; offset += limit) {
    const page = (await query(options, 'job_node_statuses', {
      job,
      ...(status ? { status } : {}),
      offset,
      limit,
    })) as NodeStatusPage;
    nodes.push(...page.nodes);
    if (page.nodes.length < limit || nodes.length >= page.total) break;
  }
  if (options.json) return printJson({ job, nodes });
  if (nodes.length === 0) {
    printLine(status ? `no node of ${job} is ${status}` : `${job} has no nodes`);
    return;
  }
  const rows = nodes.map((n) => [
    n.node,
    n.status,
    n.time === undefined ? '-' : formatTime(n.time, options.utc),
    n.exit_code === undefined ? '' : String(n.exit_code),
    n.message ?? '',
    n.reason ?? '',
  ]);
  printLine(formatTable(['NODE', 'STATUS', 'SINCE', 'EXIT', 'MESSAGE', 'WHY NOT RUNNING'], rows));
}

export function registerClientCommands(program: Command): void {
  client(
    program.command('jobs').description('list jobs: enabled, owner, priority, level, config errors'),
  ).action(async (options: ClientOptions) => {
    const jobs = (await query(options, 'jobs')) as Record<string, Record<string, unknown>>;
    if (options.json) return printJson(jobs);
    const rows = Object.entries(jobs).map(([name, job]) => [
      name,
      String(job['enabled']),
      String(job['owner']),
      String(job['priority']),
      String(job['level_for_tasks']),
      job['errors'] ? 'INVALID' : '',
    ]);
    printLine(formatTable(['JOB', 'ENABLED', 'OWNER', 'PRIORITY', 'LEVEL', 'ERRORS'], rows));
  });

  client(
    program.command('tasks').description('list running tasks').option('--job <job...>', 'only these jobs'),
  ).action(async (options: ClientOptions & { job?: string[] }) => {
    await requireKnownJobs(options, options.job);
    const tasks = (await query(options, 'running_tasks', { jobs: options.job ?? [] })) as Record<
      string,
      Record<string, { start_time: number; invocation_id?: string }>
    >;
    if (options.json) return printJson(tasks);
    const now = Date.now() / 1000;
    const rows = Object.entries(tasks).flatMap(([job, nodes]) =>
      Object.entries(nodes).map(([node, task]) => [
        job,
        node,
        formatTime(task.start_time, options.utc),
        age(now - task.start_time),
        task.invocation_id ?? '',
      ]),
    );
    printLine(
      rows.length === 0
        ? 'no running tasks'
        : formatTable(['JOB', 'NODE', 'STARTED', 'RUNTIME', 'INVOCATION'], rows),
    );
  });

  client(
    program
      .command('status')
      .description("task status histogram per job; with JOB, the job's nodes and their statuses")
      .argument('[job]', "list this job's nodes, with each one's status and last message")
      .option('--job <job...>', 'only these jobs')
      .option(
        '--status <status>',
        'with JOB: only nodes with this status (done, failed, backoff, error, running, unstarted...)',
      ),
  ).action(
    async (jobName: string | undefined, options: ClientOptions & { job?: string[]; status?: string }) => {
      if (jobName !== undefined) return listJobNodes(options, jobName, options.status);
      await requireKnownJobs(options, options.job);
      const [data, jobs] = await Promise.all([
        query(options, 'histogram', { jobs: options.job ?? [] }) as Promise<{
          histograms: Record<string, Record<string, Record<string, number>>>;
        }>,
        query(options, 'jobs', { jobs: options.job ?? [] }) as Promise<
          Record<string, { level_for_tasks: string }>
        >,
      ]);
      if (options.json) return printJson({ histograms: namedHistograms(data.histograms) });
      const rows: string[][] = [];
      for (const [job, levels] of Object.entries(data.histograms)) {
        const level = jobs[job]?.level_for_tasks ?? Object.keys(levels).at(-1)!;
        const counts = levels[level] ?? {};
        const total = Object.values(counts).reduce((a, b) => a + b, 0);
        const parts = Object.entries(counts)
          .map(([code, count]) => `${codeLabel(code)} ${count}`)
          .sort();
        rows.push([job, level, String(total), parts.join(', ')]);
      }
      printLine(
        rows.length === 0
          ? 'no job histograms yet'
          : formatTable(['JOB', 'LEVEL', 'NODES', 'STATUSES'], rows),
      );
    },
  );

  client(
    program
      .command('logs')
      .description('task output and events, newest last; --follow keeps reading')
      .option('--job <job...>', 'only these jobs')
      .option('--node <node...>', 'only these nodes')
      .option('--type <type>', 'stdout, stderr or statuses (events)', 'stdout')
      .option('--regex <regex>', 'only lines matching this regular expression')
      .option('--limit <n>', 'how many recent lines to show first', '100')
      .option('-f, --follow', 'keep printing new lines'),
  ).action(
    async (
      options: ClientOptions & {
        job?: string[];
        node?: string[];
        type: string;
        regex?: string;
        limit: string;
        follow?: boolean;
      },
    ) => {
      type Page = { lines: [string, string, number, string, string][]; next_line_id: string };
      const base = {
        log_type: options.type,
        jobs: options.job ?? [],
        nodes: options.node ?? [],
        ...(options.regex ? { regex_filter: options.regex } : {}),
      };
      const show = (lines: Page['lines']) => {
        for (const [job, node, time, text] of lines) {
          if (options.json) printLine(JSON.stringify({ job, node, time, line: text }));
          else
            process.stdout.write(
              `${formatTime(time, options.utc)} ${job} ${node} ${text.endsWith('\n') ? text : `${text}\n`}`,
            );
        }
      };
      const recent = (await query(options, 'task_logs', { ...base, sort: 'desc' })) as Page;
      // A deleted job's logs are still readable; a name with neither a job nor logs is a mistake.
      if (recent.lines.length === 0) {
        await requireKnownJobs(options, options.job);
        await requireKnownNodes(options, options.node);
      }
      const lines = recent.lines.slice(0, Number(options.limit)).reverse();
      show(lines);
      if (!options.follow) return;
      let last = lines.at(-1)?.[4] ?? '0';
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const page = (await query(options, 'task_logs', { ...base, sort: 'asc', line_id: last })) as Page;
        const fresh = page.lines.filter(([, , , , id]) => BigInt(id) > BigInt(last));
        show(fresh);
        if (fresh.length > 0) last = fresh.at(-1)![4];
      }
    },
  );

  client(
    program
      .command('kill')
      .description("send a running task its job's kill request")
      .argument('<job>')
      .argument('<node>')
      .option('--wait', 'return once the task is complete'),
  ).action(async (job: string, node: string, options: ClientOptions & { wait?: boolean }) => {
    const data = await query(options, 'kill_task', { job_id: job, node_id: node });
    if (options.json) printJson(data);
    else printLine(`${job} on ${node}: ${String(data)}`);
    if (!options.wait) return;
    for (;;) {
      const running = (await query(options, 'running_tasks', { jobs: [job] })) as Record<
        string,
        Record<string, unknown>
      >;
      if (!running[job]?.[node]) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (!options.json) printLine(`${job} on ${node}: complete`);
  });

  client(
    program
      .command('forgive')
      .description('let failed and backed-off tasks of these jobs run again')
      .argument('<job...>'),
  ).action(async (jobs: string[], options: ClientOptions) => {
    const data = await query(options, 'forgive_jobs', { jobs });
    if (options.json) printJson(data);
    else printLine(`${jobs.join(', ')}: ${String(data)}`);
  });

  client(
    program.command('errors').description('the error registry and invalid jobs; exits 1 when there are any'),
  ).action(async (options: ClientOptions) => {
    const registry = (await query(options, 'errors')) as Record<string, string>;
    const jobs = (await query(options, 'jobs')) as Record<string, { errors?: unknown }>;
    const errors: Record<string, string> = { ...registry };
    for (const [name, job] of Object.entries(jobs)) {
      if (job.errors !== undefined) errors[`Job ${name}`] = `invalid: ${JSON.stringify(job.errors)}`;
    }
    const entries = Object.entries(errors);
    if (options.json) printJson(errors);
    else if (entries.length === 0) printLine('no errors');
    else for (const [key, message] of entries) printLine(`${key}: ${message}`);
    if (entries.length > 0) throw new CliExit(1);
  });

  client(
    program
      .command('leader')
      .description("this scheduler's role: embedded, leader or standby (with the term and who leads)"),
  ).action(async (options: ClientOptions) => {
    const data = (await query(options, 'leader')) as {
      role: string;
      term: number | null;
      leader: string | null;
      leader_api_url: string | null;
    };
    if (options.json) return printJson(data);
    if (data.role === 'embedded')
      return printLine('embedded: this scheduler keeps its state in its data dir and leads');
    const who = data.leader
      ? `${data.leader}${data.leader_api_url ? ` (${data.leader_api_url})` : ''}`
      : 'nobody';
    printLine(`${data.role}, term ${data.term ?? '-'}; the leader is ${who}`);
  });

  client(
    program
      .command('workers')
      .description('the worker registry: each worker, its state, lease age, resources and running tasks'),
  ).action(async (options: ClientOptions) => {
    const rows = (await query(options, 'workers')) as WorkerAnswer[];
    if (options.json) return printJson(rows);
    if (rows.length === 0) return printLine('no workers (an embedded scheduler runs its own tasks)');
    printLine(
      formatTable(
        ['NAME', 'HOST', 'STATE', 'LEASE AGE', 'CPU', 'RAM MB', 'AVAILABLE', 'RUNNING'],
        rows.map((row) => [
          row.name,
          row.host,
          row.state,
          `${row.lease_age_sec.toFixed(1)}s`,
          String(row.reported.cpu_cores ?? '-'),
          String(row.reported.ram_mb ?? '-'),
          row.available
            ? Object.entries(row.available)
                .map(([name, amount]) => `${name}=${amount}`)
                .join(' ') || '-'
            : '-',
          String(row.running_tasks),
        ]),
      ),
    );
  });
}
