/**
 * Running tasks with runtime, usage from containment, and a kill button
 * that asks first. Rows keep a stable order (by job and node, or by
 * runtime), can be filtered by name, and are counted.
 */
import { useState } from 'preact/hooks';
import { query } from '../api.js';
import { html } from '../html.js';

export interface RunningTask {
  start_time: number;
  invocation_id?: string;
  /** The worker running it (`worker_shard`): a remote worker's name, `local` for the scheduler itself. */
  worker_shard?: string;
  usage?: { cpuSeconds?: number; memoryBytes?: number; memoryPeakBytes?: number };
}

function age(seconds: number): string {
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.floor(seconds % 60)}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

type SortKey = 'name' | 'runtime';

export function RunningView({ tasks }: { tasks: Record<string, Record<string, RunningTask>> }) {
  const [message, setMessage] = useState('');
  const [confirming, setConfirming] = useState<string | undefined>(undefined);
  const [filter, setFilter] = useState('');
  const [sortKey, setSortKey] = useState<SortKey>('name');
  const all = Object.entries(tasks).flatMap(([job, nodes]) =>
    Object.entries(nodes).map(([node, task]) => ({ job, node, task })),
  );
  const needle = filter.trim().toLowerCase();
  const rows = all
    .filter(({ job, node }) => needle === '' || `${job} ${node}`.toLowerCase().includes(needle))
    .sort((a, b) =>
      sortKey === 'runtime'
        ? a.task.start_time - b.task.start_time || a.job.localeCompare(b.job) || a.node.localeCompare(b.node)
        : a.job.localeCompare(b.job) || a.node.localeCompare(b.node),
    );
  const now = Date.now() / 1000;
  const kill = async (job: string, node: string) => {
    setConfirming(undefined);
    try {
      await query('kill_task', { job_id: job, node_id: node }, true);
      setMessage(`Sent the kill request to ${job} on ${node}`);
    } catch (error) {
      setMessage(`Could not kill ${job} on ${node}: ${(error as Error).message}`);
    }
  };
  return html`<div>
    ${message ? html`<p data-testid="kill-message">${message}</p>` : null}
    <p>
      <span data-testid="running-count"
        >${rows.length === all.length ? `${all.length} running` : `${rows.length} of ${all.length} running`}</span
      >
      <input
        data-testid="running-filter"
        placeholder="filter by job or node"
        value=${filter}
        onInput=${(event: Event) => setFilter((event.target as HTMLInputElement).value)}
      />
    </p>
    <table data-testid="running">
      <thead>
        <tr>
          <th><button class="link" data-sort="name" onClick=${() => setSortKey('name')}>Job</button></th>
          <th>Node</th>
          <th>Worker</th>
          <th>Started</th>
          <th>
            <button class="link" data-sort="runtime" onClick=${() => setSortKey('runtime')}>Runtime</button>
          </th>
          <th>CPU</th>
          <th>Memory</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${
          rows.length === 0
            ? html`<tr>
                <td colspan="8">No running tasks</td>
              </tr>`
            : null
        }
        ${rows.map(
          ({ job, node, task }) =>
            html`<tr data-task=${`${job}/${node}`}>
              <td>${job}</td>
              <td><a href=${`#/logs/${encodeURIComponent(job)}/${encodeURIComponent(node)}`}>${node}</a></td>
              <td>${task.worker_shard ?? '–'}</td>
              <td>${new Date(task.start_time * 1000).toLocaleString()}</td>
              <td>${age(now - task.start_time)}</td>
              <td>${task.usage?.cpuSeconds !== undefined ? `${task.usage.cpuSeconds.toFixed(2)} s` : '–'}</td>
              <td>
                ${task.usage?.memoryBytes !== undefined ? `${(task.usage.memoryBytes / 2 ** 20).toFixed(1)} MB` : '–'}
              </td>
              <td>
                ${
                  confirming === `${job}/${node}`
                    ? html`<span data-testid="kill-confirm"
                        >Kill ${job} on ${node}?
                        <button data-confirm-kill=${`${job}/${node}`} onClick=${() => kill(job, node)}>
                          Yes, kill
                        </button>
                        <button onClick=${() => setConfirming(undefined)}>Cancel</button></span
                      >`
                    : html`<button
                        data-kill=${`${job}/${node}`}
                        onClick=${() => setConfirming(`${job}/${node}`)}
                      >
                        Kill
                      </button>`
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}
