/**
 * One job's nodes and their statuses, virtualized: only the rows in view are
 * rendered, fetched a page at a time, so 100k nodes scroll smoothly. Filter
 * by status and by a name regex; a node opens its status, events and logs.
 */
import { useEffect, useState } from 'preact/hooks';
import { query } from '../api.js';
import { html } from '../html.js';
import { CATEGORIES } from '../status.js';
import { NodeGrid } from './nodeGrid.js';

const ROW = 26;
const PAGE = 200;

interface NodeRow {
  node: string;
  status: string;
  code: string;
  time?: number;
  message?: string;
  exit_code?: number;
  reason?: string;
}

export function JobDetailView({ job, tick }: { job: string; tick: number }) {
  const [status, setStatus] = useState('');
  const [regex, setRegex] = useState('');
  const [total, setTotal] = useState(0);
  const [pages, setPages] = useState<Map<number, NodeRow[]>>(new Map());
  const [scrollTop, setScrollTop] = useState(0);
  const [error, setError] = useState('');
  const first = Math.floor(scrollTop / ROW);
  const visible = Math.ceil(480 / ROW) + 2;
  const wantedPages = [Math.floor(first / PAGE), Math.floor((first + visible) / PAGE)];

  useEffect(() => {
    setPages(new Map());
  }, [job, status, regex]);

  useEffect(() => {
    let cancelled = false;
    for (const page of new Set(wantedPages)) {
      void query<{ total: number; nodes: NodeRow[] }>('job_node_statuses', {
        job,
        status,
        regex,
        offset: page * PAGE,
        limit: PAGE,
      })
        .then((result) => {
          if (cancelled) return;
          setError('');
          setTotal(result.total);
          setPages((current) => new Map(current).set(page, result.nodes));
        })
        .catch((e: Error) => setError(e.message));
    }
    return () => {
      cancelled = true;
    };
  }, [job, status, regex, wantedPages[0], wantedPages[1], tick]);

  const rows: { index: number; row: NodeRow | undefined }[] = [];
  for (let i = first; i < Math.min(total, first + visible); i++)
    rows.push({ index: i, row: pages.get(Math.floor(i / PAGE))?.[i % PAGE] });

  return html`<div>
    <h2>${job}</h2>
    <${NodeGrid} job=${job} tick=${tick} />
    <div class="filters">
      <label
        >Status
        <select value=${status} onChange=${(e: Event) => setStatus((e.target as HTMLSelectElement).value)}>
          <option value="">all</option>
          ${CATEGORIES.map((c) => html`<option value=${c}>${c}</option>`)}
        </select></label
      >
      <label
        >Node regex
        <input value=${regex} onInput=${(e: Event) => setRegex((e.target as HTMLInputElement).value)}
      /></label>
      <span data-testid="node-count">${total} nodes</span>
      ${error ? html`<span class="errors">${error}</span>` : null}
    </div>
    <div
      class="grid"
      data-testid="grid"
      onScroll=${(e: Event) => setScrollTop((e.target as HTMLElement).scrollTop)}
    >
      <div style=${`height:${total * ROW}px`}></div>
      ${rows.map(
        ({ index, row }) =>
          html`<div
            class="row"
            style=${`top:${index * ROW}px`}
            onClick=${() => row && (location.hash = `#/logs/${encodeURIComponent(job)}/${encodeURIComponent(row.node)}`)}
          >
            <span style="width:16rem">${row?.node ?? '…'}</span>
            ${row ? html`<span class=${`badge s-${row.status}`}>${row.status}</span>` : null}
            <span>${row?.time ? new Date(row.time * 1000).toLocaleString() : ''}</span>
            <span class="reason" title=${row?.message ?? ''}>${row?.reason ?? row?.message ?? ''}</span>
          </div>`,
      )}
    </div>
  </div>`;
}
