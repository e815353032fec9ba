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
            <td>${job.owner}</td>
            <td>${job.priority}</td>
            <td>${String(job.enabled)}</td>
            <td class="errors">${job.errors ? JSON.stringify(job.errors) : ''}</td>
          </tr>`;
        })}
      </tbody>
    </table>
  </div>`;
}
