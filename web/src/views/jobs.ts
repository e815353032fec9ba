/** Jobs with a progress bar of their status histogram at the task level. */
import { html } from '../html.js';
import { CATEGORIES, summarize } from '../status.js';

export interface JobSummary {
  enabled: boolean;
  owner: string;
  priority: number;
  level_for_tasks: string;
  errors?: unknown;
}

/** Bistro's error record as readable lines: "resources.slots: expected a number, received ..." */
export function errorLines(record: unknown, path = ''): string[] {
  if (record === null || typeof record !== 'object') return [];
  const { key_errors, nested, error } = record as {
    key_errors?: Record<string, string>;
    nested?: Record<string, unknown>;
    error?: string;
  };
  const join = (key: string) => (path === '' ? key : `${path}.${key}`);
  return [
    ...(error ? [path === '' ? error : `${path}: ${error}`] : []),
    ...Object.entries(key_errors ?? {}).map(([key, message]) => `${join(key)}: ${message}`),
    ...Object.entries(nested ?? {}).flatMap(([key, inner]) => errorLines(inner, join(key))),
  ];
}

export function Progress({ counts }: { counts: Record<string, number> }) {
  const summary = summarize(counts);
  const total = Object.values(summary).reduce((a, b) => a + b, 0);
  return html`<div
    class="progress"
    title=${CATEGORIES.map((c) => `${c} ${summary[c]}`).join(', ')}
    data-total=${total}
    data-done=${summary.done}
    data-running=${summary.running}
  >
    ${CATEGORIES.filter((c) => summary[c] > 0).map((c) => html`<span class=${`s-${c}`} style=${`width:${(100 * summary[c]) / total}%`}></span>`)}
  </div>`;
}

export function Legend() {
  return html`<div class="legend">
    ${CATEGORIES.map((c) => html`<span><i class=${`s-${c}`}></i>${c}</span>`)}
  </div>`;
}

export function JobsView(props: {
  jobs: Record<string, JobSummary>;
  histograms: Record<string, Record<string, Record<string, number>>>;
}) {
  const names = Object.keys(props.jobs).sort();
  return html`<div>
    <${Legend} />
    <table data-testid="jobs">
      <thead>
        <tr>
          <th>Job</th>
          <th>Progress</th>
          <th>Done</th>
          <th>Statuses</th>
          <th>Owner</th>
          <th>Priority</th>
          <th>Enabled</th>
          <th>Config errors</th>
        </tr>
      </thead>
      <tbody>
        ${names.map((name) => {
          const job = props.jobs[name]!;
          const counts = props.histograms[name]?.[job.level_for_tasks] ?? {};
          const summary = summarize(counts);
          const total = Object.values(summary).reduce((a, b) => a + b, 0);
          return html`<tr data-job=${name}>
            <td><a href=${`#/job/${encodeURIComponent(name)}`}>${name}</a></td>
            <td><${Progress} counts=${counts} /></td>
            <td>${summary.done} / ${total}</td>
            <td class="counts" data-testid="status-counts">
              ${Object.entries(summary)
                .filter(([, count]) => count > 0)
                .map(
                  ([category, count]) =>
                    html`<span class=${`count s-${category}`}>${count} ${category}</span>`,
                )}
            </td>
            <td>${job.owner}</td>
            <td>${job.priority}</td>
            <td>${String(job.enabled)}</td>
            <td class="errors" data-testid="job-errors">
              ${job.errors ? errorLines(job.errors).join('\n') : ''}
            </td>
          </tr>`;
        })}
      </tbody>
    </table>
  </div>`;
}
