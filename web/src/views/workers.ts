/**
 * The worker registry of a shared database: each worker's state, lease age,
 * what it reported, what is left of its worker resources, and how many tasks
 * it runs. Refreshed with the rest of the page.
 */
import { useEffect, useState } from 'preact/hooks';
import { query } from '../api.js';
import { html } from '../html.js';

interface WorkerRow {
  name: string;
  host: string;
  state: string;
  lease_age_sec: number;
  reported: { cpu_cores?: number; ram_mb?: number };
  available: Record<string, number> | null;
  running_tasks: number;
  version: string;
}

export function WorkersView({ tick }: { tick: number }) {
  const [rows, setRows] = useState<WorkerRow[] | undefined>();
  const [problem, setProblem] = useState('');
  useEffect(() => {
    query<WorkerRow[]>('workers').then(
      (data) => {
        setRows(data);
        setProblem('');
      },
      (error: Error) => setProblem(error.message),
    );
  }, [tick]);
  if (problem) return html`<p class="banner">${problem}</p>`;
  if (!rows) return html`<p>Loading…</p>`;
  if (rows.length === 0)
    return html`<p data-testid="no-workers">
      No workers: this scheduler keeps its state in its data dir and runs its own tasks.
    </p>`;
  return html`<table data-testid="workers">
    <thead>
      <tr>
        <th>Worker</th>
        <th>Host</th>
        <th>State</th>
        <th>Lease age</th>
        <th>CPU cores</th>
        <th>RAM</th>
        <th>Available</th>
        <th>Running</th>
        <th>Version</th>
      </tr>
    </thead>
    <tbody>
      ${rows.map(
        (row) =>
          html`<tr data-worker=${row.name} class=${row.state === 'healthy' ? '' : 'muted'}>
            <td>${row.name}</td>
            <td>${row.host}</td>
            <td>
              <span class=${`badge ${row.state === 'healthy' ? 's-done' : 's-failed'}`}>${row.state}</span>
            </td>
            <td>${row.lease_age_sec.toFixed(1)} s</td>
            <td>${row.reported.cpu_cores ?? '–'}</td>
            <td>${row.reported.ram_mb !== undefined ? `${row.reported.ram_mb} MB` : '–'}</td>
            <td>
              ${
                row.available
                  ? Object.entries(row.available)
                      .map(([name, amount]) => `${name} ${amount}`)
                      .join(', ') || '–'
                  : '–'
              }
            </td>
            <td>${row.running_tasks}</td>
            <td>${row.version}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}
