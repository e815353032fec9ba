/**
 * A job's nodes as a grid of coloured cells on a canvas, grouped by a
 * chosen level (host, say): one line per group (wrapping when long), one
 * cell per node, coloured by status. Only the lines in view are drawn, so
 * 100k nodes scroll and repaint in milliseconds. Hover names a cell's node
 * and status; a click opens the node's panel (why it is not running, its
 * last message and exit code, its recent attempts).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { query } from '../api.js';
import { html } from '../html.js';
import { Legend } from './jobs.js';

export interface GridData {
  levels: string[];
  group_level: string | null;
  categories: string[];
  groups: { name: string; start: number; count: number }[];
  names: string[];
  statuses: string;
}

/** A category's colour: the status badges' own (`--s-<category>` in styles.css). */
function categoryColour(category: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(`--s-${category}`).trim() || '#ccc';
}

const CELL = 9;
const GAP = 1;
const LABEL_WIDTH = 140;
const VIEW_HEIGHT = 320;

interface Line {
  group: number;
  first: number;
  count: number;
}

function layout(data: GridData, perLine: number): Line[] {
  const lines: Line[] = [];
  data.groups.forEach((group, g) => {
    for (let offset = 0; offset < group.count; offset += perLine)
      lines.push({ group: g, first: group.start + offset, count: Math.min(perLine, group.count - offset) });
  });
  return lines;
}

interface NodeDetail {
  node: string;
  status: string;
  reason?: string;
  message?: string;
  exit_code?: number;
  attempts?: {
    start: number;
    status: string | null;
    duration_sec: number | null;
    killed_by: string | null;
  }[];
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function NodeGrid({ job, tick }: { job: string; tick: number }) {
  const [groupLevel, setGroupLevel] = useState<string | undefined>(undefined);
  const [data, setData] = useState<GridData | undefined>(undefined);
  const [error, setError] = useState('');
  const [scrollTop, setScrollTop] = useState(0);
  const [hover, setHover] = useState<{ x: number; y: number; index: number } | undefined>(undefined);
  const [detail, setDetail] = useState<NodeDetail | undefined>(undefined);
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const width = box.current?.clientWidth ?? 900;
  const perLine = Math.max(1, Math.floor((width - LABEL_WIDTH) / (CELL + GAP)));
  const lines = data ? layout(data, perLine) : [];
  // A small job gets a small grid; a large one scrolls within VIEW_HEIGHT.
  const viewHeight = Math.min(VIEW_HEIGHT, Math.max(3 * (CELL + GAP), lines.length * (CELL + GAP) + 2));

  useEffect(() => {
    let cancelled = false;
    query<GridData>('job_grid', { job, ...(groupLevel ? { group_level: groupLevel } : {}) })
      .then((result) => {
        if (cancelled) return;
        setError('');
        setData(result);
      })
      .catch((e: Error) => setError(e.message));
    return () => {
      cancelled = true;
    };
  }, [job, groupLevel, tick]);

  useEffect(() => {
    const element = canvas.current;
    if (!element || !data) return;
    const ratio = window.devicePixelRatio || 1;
    element.width = width * ratio;
    element.height = viewHeight * ratio;
    const context = element.getContext('2d')!;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, viewHeight);
    context.font = '11px sans-serif';
    context.textBaseline = 'top';
    const firstLine = Math.floor(scrollTop / (CELL + GAP));
    const lastLine = Math.min(lines.length, firstLine + Math.ceil(viewHeight / (CELL + GAP)) + 1);
    const colours = data.categories.map(categoryColour);
    let drawn = 0;
    for (let l = firstLine; l < lastLine; l++) {
      const line = lines[l]!;
      const y = l * (CELL + GAP) - scrollTop;
      const group = data.groups[line.group]!;
      if (line.first === group.start) {
        context.fillStyle = '#333';
        context.fillText(group.name.slice(0, 20), 2, y - 1);
      }
      for (let i = 0; i < line.count; i++) {
        const digit = data.statuses.charCodeAt(line.first + i) - 48;
        context.fillStyle = colours[digit] ?? '#ccc';
        context.fillRect(LABEL_WIDTH + i * (CELL + GAP), y, CELL, CELL);
        drawn++;
      }
    }
    element.dataset['rendered'] = String(data.names.length);
    element.dataset['drawn'] = String(drawn);
  }, [data, scrollTop, width, viewHeight]);

  const cellAt = (event: MouseEvent): number | undefined => {
    const rect = (event.target as HTMLElement).getBoundingClientRect();
    const x = event.clientX - rect.left - LABEL_WIDTH;
    const y = event.clientY - rect.top + scrollTop;
    if (x < 0) return undefined;
    const line = lines[Math.floor(y / (CELL + GAP))];
    const column = Math.floor(x / (CELL + GAP));
    if (!line || column >= line.count) return undefined;
    return line.first + column;
  };

  const open = async (index: number) => {
    const node = data!.names[index]!;
    try {
      const [statuses, history] = await Promise.all([
        query<{ nodes: NodeDetail[] }>('job_node_statuses', {
          job,
          regex: `^${escapeRegex(node)}$`,
          limit: 1,
        }),
        query<{ attempts: NodeDetail['attempts'] }>('task_history', { job_id: job, node_id: node, limit: 5 }),
      ]);
      const row = statuses.nodes[0];
      setDetail({ node, status: row?.status ?? '?', ...row, attempts: history.attempts ?? [] });
    } catch (e) {
      setDetail({ node, status: '?', message: (e as Error).message });
    }
  };

  const hovered = hover && data ? hover.index : undefined;
  return html`<div class="node-grid">
    <div class="filters">
      <label
        >Group by
        <select
          data-testid="group-level"
          value=${data?.group_level ?? ''}
          onChange=${(e: Event) => setGroupLevel((e.target as HTMLSelectElement).value)}
        >
          ${(data?.levels ?? []).map((level) => html`<option value=${level}>${level}</option>`)}
        </select></label
      >
      <div data-testid="grid-legend"><${Legend} /></div>
      ${error ? html`<span class="errors">${error}</span>` : null}
    </div>
    <div
      ref=${box}
      class="grid-canvas"
      style=${`height:${viewHeight}px`}
      onScroll=${(e: Event) => setScrollTop((e.target as HTMLElement).scrollTop)}
    >
      <div style=${`height:${lines.length * (CELL + GAP)}px`}></div>
      <canvas
        ref=${canvas}
        data-testid="node-grid"
        style=${`width:${width}px;height:${viewHeight}px;top:${scrollTop}px`}
        onMouseMove=${(e: MouseEvent) => {
          const index = cellAt(e);
          setHover(index === undefined ? undefined : { x: e.offsetX, y: e.offsetY, index });
        }}
        onMouseLeave=${() => setHover(undefined)}
        onClick=${(e: MouseEvent) => {
          const index = cellAt(e);
          if (index !== undefined) void open(index);
        }}
      ></canvas>
      ${
        hovered !== undefined
          ? html`<div
              class="grid-tip"
              data-testid="grid-tip"
              style=${`left:${hover!.x + 12}px;top:${hover!.y + scrollTop + 12}px`}
            >
              ${data!.names[hovered]}: ${data!.categories[data!.statuses.charCodeAt(hovered) - 48]}
            </div>`
          : null
      }
    </div>
    ${
      detail
        ? html`<div class="node-panel" data-testid="node-panel">
            <strong>${detail.node}</strong> <span class=${`badge s-${detail.status}`}>${detail.status}</span>
            ${detail.reason ? html`<div data-testid="node-reason">Why not running: ${detail.reason}</div>` : null}
            ${detail.message ? html`<div>Last message: ${detail.message}</div>` : null}
            ${detail.exit_code !== undefined ? html`<div>Exit code: ${detail.exit_code}</div>` : null}
            ${
              (detail.attempts ?? []).length > 0
                ? html`<div>
                    Recent attempts:
                    ${detail.attempts!.map(
                      (a) =>
                        html`<div>
                          ${new Date(a.start * 1000).toLocaleString()} · ${a.status ?? 'running'}
                          ${a.duration_sec !== null ? ` · ${a.duration_sec} s` : ''}${a.killed_by ? ` · killed (${a.killed_by})` : ''}
                        </div>`,
                    )}
                  </div>`
                : null
            }
            <a href=${`#/logs/${encodeURIComponent(job)}/${encodeURIComponent(detail.node)}`}
              >logs and events</a
            >
          </div>`
        : null
    }
  </div>`;
}
