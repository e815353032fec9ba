/** Running tasks with runtime, usage from containment, and a kill button. */
import { useState } from 'preact/hooks';
import { query } from '../api.js';
import { html } from '../html.js';

export interface RunningTask {
  start_time: number;
  invocation_id?: string;
  usage?: { cpuSeconds?: number; memoryBytes?: number; memoryPeakBytes?: number };
}

function age(seconds: number): string {
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.floor(seconds % 60)}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

export function RunningView({ tasks }: { tasks: Record<string, Record<string, RunningTask>> }) {
  const [message, setMessage] = useState('');
  const rows = Object.entries(tasks).flatMap(([job, nodes]) =>
    Object.entries(nodes).map(([node, task]) => ({ job, node, task })),
  );
  const now = Date.now() / 1000;
  const kill = async (job: string, node: string) => {
    try {
      await query('kill_task', { job_id: job, node_id: node }, true);
      setMessage(`Sent the kill request to ${job} on ${node}`);
    } catch (error) {
      setMessage(`Could not kill ${job} on ${node}: ${(error as Error).message}`);
    }
  };
  return html`<div>
    ${message ? html`<p data-testid="kill-message">${message}</p>` : null}
    <table data-testid="running">
      <thead>
        <tr>
          <th>Job</th>
          <th>Node</th>
          <th>Started</th>
          <th>Runtime</th>
          <th>CPU</th>
          <th>Memory</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${
          rows.length === 0
            ? html`<tr>
                <td colspan="7">No running tasks</td>
              </tr>`
            : null
        }
        ${rows.map(
          ({ job, node, task }) =>
            html`<tr data-task=${`${job}/${node}`}>
              <td>${job}</td>
              <td><a href=${`#/logs/${encodeURIComponent(job)}/${encodeURIComponent(node)}`}>${node}</a></td>
              <td>${new Date(task.start_time * 1000).toLocaleString()}</td>
              <td>${age(now - task.start_time)}</td>
              <td>${task.usage?.cpuSeconds !== undefined ? `${task.usage.cpuSeconds.toFixed(2)} s` : '–'}</td>
              <td>
                ${task.usage?.memoryBytes !== undefined ? `${(task.usage.memoryBytes / 2 ** 20).toFixed(1)} MB` : '–'}
              </td>
              <td><button data-kill=${`${job}/${node}`} onClick=${() => kill(job, node)}>Kill</button></td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}
