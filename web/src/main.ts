/**
 * The scheduler's web UI: jobs with progress, a job's nodes, running tasks
 * with kill buttons, workers, task logs, and the error registry as a banner. One
 * request every 2 s refreshes the shared data; views update in place.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { queries } from './api.js';
import { html } from './html.js';
import { Banner } from './views/banner.js';
import { JobDetailView } from './views/jobDetail.js';
import { JobsView, type JobSummary } from './views/jobs.js';
import { LogsView } from './views/logs.js';
import { RunningView, type RunningTask } from './views/running.js';
import { WorkersView } from './views/workers.js';

interface Snapshot {
  errors: Record<string, string>;
  jobs: Record<string, JobSummary>;
  histograms: Record<string, Record<string, Record<string, number>>>;
  running: Record<string, Record<string, RunningTask>>;
}

const REFRESH_MS = 2000;

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/jobs');
  useEffect(() => {
    const onChange = () => setHash(location.hash || '#/jobs');
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return hash;
}

function App() {
  const hash = useHash();
  const [snapshot, setSnapshot] = useState<Snapshot | undefined>();
  const [problem, setProblem] = useState('');
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let stopped = false;
    const refresh = async () => {
      try {
        const r = await queries({
          errors: { handler: 'errors' },
          jobs: { handler: 'jobs' },
          histogram: { handler: 'histogram' },
          running: { handler: 'running_tasks' },
        });
        if (stopped) return;
        setSnapshot({
          errors: (r['errors']?.data ?? {}) as Snapshot['errors'],
          jobs: (r['jobs']?.data ?? {}) as Snapshot['jobs'],
          histograms:
            ((r['histogram']?.data as { histograms?: Snapshot['histograms'] }) ?? {}).histograms ?? {},
          running: (r['running']?.data ?? {}) as Snapshot['running'],
        });
        setProblem('');
        setTick((t) => t + 1);
      } catch (error) {
        setProblem(`Cannot reach the scheduler: ${(error as Error).message}`);
      }
    };
    void refresh();
    const timer = setInterval(refresh, REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, []);

  const [, route, a, b] = hash.split('/');
  const nav = (target: string, label: string) =>
    html`<a href=${`#/${target}`} class=${route === target ? 'active' : ''}>${label}</a>`;
  let view = html`<p>Loading…</p>`;
  if (snapshot) {
    if (route === 'job' && a) view = html`<${JobDetailView} job=${decodeURIComponent(a)} tick=${tick} />`;
    else if (route === 'running') view = html`<${RunningView} tasks=${snapshot.running} />`;
    else if (route === 'workers') view = html`<${WorkersView} tick=${tick} />`;
    else if (route === 'logs')
      view = html`<${LogsView} job=${decodeURIComponent(a ?? '')} node=${decodeURIComponent(b ?? '')} />`;
    else view = html`<${JobsView} jobs=${snapshot.jobs} histograms=${snapshot.histograms} />`;
  }
  return html`<div data-ready=${snapshot ? 'yes' : 'no'}>
    <header>
      <strong>Bistro</strong
      >${nav('jobs', 'Jobs')}${nav('running', 'Running tasks')}${nav('workers', 'Workers')}${nav('logs', 'Logs')}
    </header>
    ${problem ? html`<div class="banner">${problem}</div>` : null}
    ${snapshot ? html`<${Banner} errors=${snapshot.errors} />` : null}
    <main>${view}</main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app')!);
