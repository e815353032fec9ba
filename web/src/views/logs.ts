/** A task's stdout, stderr or events, with paging back in time and live follow. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { query } from '../api.js';
import { html } from '../html.js';

type Line = [string, string, number, string, string];
interface Page {
  lines: Line[];
  next_line_id: string;
}

export function LogsView({ job, node }: { job: string; node: string }) {
  const [type, setType] = useState('stdout');
  const [lines, setLines] = useState<Line[]>([]);
  const [older, setOlder] = useState('-1');
  const [follow, setFollow] = useState(true);
  const last = useRef('0');

  useEffect(() => {
    let cancelled = false;
    const base = { log_type: type, jobs: job ? [job] : [], nodes: node ? [node] : [] };
    void query<Page>('task_logs', { ...base, sort: 'desc' }).then((page) => {
      if (cancelled) return;
      const newest = [...page.lines].reverse();
      setLines(newest);
      setOlder(page.next_line_id);
      last.current = newest.at(-1)?.[4] ?? '0';
    });
    const timer = setInterval(async () => {
      if (!follow) return;
      const page = await query<Page>('task_logs', { ...base, sort: 'asc', line_id: last.current });
      const fresh = page.lines.filter((l) => BigInt(l[4]) > BigInt(last.current));
      if (fresh.length > 0 && !cancelled) {
        last.current = fresh.at(-1)![4];
        setLines((current) => [...current, ...fresh]);
      }
    }, 1000);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [job, node, type, follow]);

  const loadOlder = async () => {
    const page = await query<Page>('task_logs', {
      log_type: type,
      jobs: job ? [job] : [],
      nodes: node ? [node] : [],
      sort: 'desc',
      line_id: older,
    });
    setLines((current) => [...[...page.lines].reverse(), ...current]);
    setOlder(page.next_line_id);
  };

  return html`<div>
    <h2>${job || 'all jobs'} ${node ? `on ${node}` : ''}</h2>
    <div class="filters">
      ${['stdout', 'stderr', 'statuses'].map((t) => html`<label><input type="radio" name="type" checked=${type === t} onChange=${() => setType(t)} /> ${t === 'statuses' ? 'events' : t}</label>`)}
      <label
        ><input
          type="checkbox"
          checked=${follow}
          onChange=${(e: Event) => setFollow((e.target as HTMLInputElement).checked)}
        />
        follow</label
      >
      ${older !== '-1' ? html`<button onClick=${loadOlder}>Older lines</button>` : null}
    </div>
    <pre class="log" data-testid="log">
${lines.map((l) => `${new Date(l[2] * 1000).toISOString()} ${l[1]} ${l[3].endsWith('\n') ? l[3] : `${l[3]}\n`}`).join('')}</pre>
  </div>`;
}
