/**
 * A process that hosts only a supervisor holding `count` sleeping tasks, so
 * its CPU and RSS are the supervisor's own and not the benchmark harness's
 * (which loads every benchmark's modules). Prints one JSON line:
 * {"cpuPct": N, "rssMb": N, "wallSec": N}. Usage: idleSupervisor.ts COUNT
 */
import { TASK_SUBPROCESS_WITHOUT_CGROUPS } from '../src/config/taskSubprocess.js';
import { Supervisor } from '../src/supervisor/supervisor.js';

const count = Number(process.argv[2] ?? 1000);
const supervisor = new Supervisor();
for (let i = 0; i < count; i++) {
  supervisor.start({
    invocationId: `idle${i}`,
    argv: ['sleep', '1000'],
    cwd: '/tmp',
    options: TASK_SUBPROCESS_WITHOUT_CGROUPS,
  });
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
try {
  await sleep(3000);
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  await sleep(10_000);
  const cpu = process.cpuUsage(cpuBefore);
  const wall = performance.now() - wallBefore;
  const running = supervisor.running().length;
  if (running !== count) throw new Error(`${running} of ${count} tasks running`);
  process.stdout.write(
    `${JSON.stringify({
      cpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100,
      rssMb: process.memoryUsage().rss / 2 ** 20,
      wallSec: wall / 1000,
    })}\n`,
  );
} finally {
  await supervisor.stopAll({ method: 'kill', killWaitMs: 0 }, 'benchmark');
}
