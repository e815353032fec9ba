/**
 * A task's logs: stdout, stderr and events interleaved in the order they
 * happened (line ids are one sequence across the three), each line tagged
 * with its stream and invocation id, events as readable text; or one stream
 * alone. Older lines on demand; live follow keeps the tail in view.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { query } from '../api.js';
import { html } from '../html.js';

type Line = [string, string, number, string, string];
type Stream = 'stdout' | 'stderr' | 'statuses';
type Mode = 'all' | Stream;
interface Page {
  lines: Line[];
  next_line_id: string;
}
interface Shown {
  id: bigint;
  time: number;
  node: string;
  stream: Stream;
  invocation: string;
  text: string;
}

const STREAMS: readonly Stream[] = ['stdout', 'stderr', 'statuses'];
const TAGS: Record<Stream, string> = { stdout: 'out', stderr: 'err', statuses: 'event' };
/** Event fields that say nothing a reader needs. */
const QUIET_FIELDS = new Set([
  'event',
  'invocation_id',
  'invocation_start_time',
  'invocation_rand',
  'worker_host',
  'command',
  'command_sha256',
]);

function eventText(line: string): { invocation: string; text: string } {
  try {
    const row = JSON.parse(line) as Record<string, unknown>;
    const details = Object.entries(row)
      .filter(([key, value]) => !QUIET_FIELDS.has(key) && value !== null && value !== undefined)
      .map(([key, value]) => `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
    return {
      invocation: typeof row['invocation_id'] === 'string' ? row['invocation_id'] : '',
      text: `${String(row['event'] ?? 'event')}${details.length > 0 ? `: ${details.join(' ')}` : ''}`,
    };
  } catch {
    return { invocation: '', text: line };
  }
}

/** Lines of every stream in id order; output carries the invocation of the latest event before it on its node. */
function annotate(lines: { stream: Stream; line: Line }[], known: Map<string, string>): Shown[] {
  const sorted = [...lines].sort((a, b) => (BigInt(a.line[4]) < BigInt(b.line[4]) ? -1 : 1));
  return sorted.map(({ stream, line }) => {
    const [job, node, time, text, id] = line;
    const key = `${job}\u0000${node}`;
    let invocation = known.get(key) ?? '';
    let shown = text.endsWith('\n') ? text.slice(0, -1) : text;
    if (stream === 'statuses') {
      const event = eventText(text);
      if (event.invocation) {
        invocation = event.invocation;
        known.set(key, invocation);
      }
      shown = event.text;
    }
    return { id: BigInt(id), time, node, stream, invocation, text: shown };
  });
}

/** One shown line: time, stream, (node,) invocation, text. */
function lineText(line: Shown, withNode: boolean): string {
  const time = new Date(line.time * 1000).toLocaleTimeString();
  const invocation = line.invocation ? `[${line.invocation}] ` : '';
  return `${time} ${TAGS[line.stream].padEnd(5)} ${withNode ? `${line.node} ` : ''}${invocation}${line.text}`;
}

export function LogsView({ job, node }: { job: string; node: string }) {
  const [mode, setMode] = useState<Mode>('all');
  const [lines, setLines] = useState<Shown[]>([]);
  const [older, setOlder] = useState<Partial<Record<Stream, string>>>({});
  const [follow, setFollow] = useState(true);
  const last = useRef<Partial<Record<Stream, bigint>>>({});
  const invocations = useRef(new Map<string, string>());
  const pre = useRef<HTMLPreElement>(null);
  const streams = mode === 'all' ? STREAMS : [mode];
  const base = (stream: Stream) => ({ log_type: stream, jobs: job ? [job] : [], nodes: node ? [node] : [] });

  useEffect(() => {
    let cancelled = false;
    invocations.current = new Map();
    last.current = {};
    void Promise.all(streams.map((s) => query<Page>('task_logs', { ...base(s), sort: 'desc' }))).then(
      (pages) => {
        if (cancelled) return;
        const cursors: Partial<Record<Stream, string>> = {};
        const all = pages.flatMap((page, i) => {
          const stream = streams[i]!;
          cursors[stream] = page.next_line_id;
          const newest = page.lines[0];
          last.current[stream] = newest ? BigInt(newest[4]) : 0n;
          return page.lines.map((line) => ({ stream, line }));
        });
        setLines(annotate(all, invocations.current));
        setOlder(cursors);
      },
    );
    const timer = setInterval(async () => {
      if (!follow) return;
      const pages = await Promise.all(
        streams.map((s) =>
          query<Page>('task_logs', { ...base(s), sort: 'asc', line_id: String(last.current[s] ?? 0n) }),
        ),
      );
      const fresh = pages.flatMap((page, i) => {
        const stream = streams[i]!;
        const after = last.current[stream] ?? 0n;
        const lines = page.lines.filter((l) => BigInt(l[4]) > after);
        if (lines.length > 0) last.current[stream] = BigInt(lines.at(-1)![4]);
        return lines.map((line) => ({ stream, line }));
      });
      if (fresh.length > 0 && !cancelled)
        setLines((current) => [...current, ...annotate(fresh, invocations.current)]);
    }, 1000);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
  }, [job, node, mode, follow]);

  useEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [lines, follow]);

  const loadOlder = async () => {
    const wanted = streams.filter((s) => older[s] !== undefined && older[s] !== '-1');
    const pages = await Promise.all(
      wanted.map((s) => query<Page>('task_logs', { ...base(s), sort: 'desc', line_id: older[s] })),
    );
    const cursors = { ...older };
    const all = pages.flatMap((page, i) => {
      cursors[wanted[i]!] = page.next_line_id;
      return page.lines.map((line) => ({ stream: wanted[i]!, line }));
    });
    setLines((current) => [...annotate(all, new Map()), ...current]);
    setOlder(cursors);
  };
  const hasOlder = streams.some((s) => older[s] !== undefined && older[s] !== '-1');

  return html`<div>
    <h2>${job || 'all jobs'} ${node ? `on ${node}` : ''}</h2>
    <div class="filters">
      ${(['all', ...STREAMS] as Mode[]).map(
        (m) =>
          html`<label
            ><input
              type="radio"
              name="type"
              data-mode=${m}
              checked=${mode === m}
              onChange=${() => setMode(m)}
            />
            ${m === 'statuses' ? 'events' : m === 'all' ? 'all, interleaved' : m}</label
          >`,
      )}
      <label
        ><input
          type="checkbox"
          checked=${follow}
          onChange=${(e: Event) => setFollow((e.target as HTMLInputElement).checked)}
        />
        follow</label
      >
      ${hasOlder ? html`<button onClick=${loadOlder}>Older lines</button>` : null}
    </div>
    <pre class="log" data-testid="log" ref=${pre}>
${lines.map(
        (l) => html`<span class=${`log-${l.stream}`} data-stream=${l.stream}>${lineText(l, !node)}</span>`,
      )}</pre>
  </div>`;
}
