/**
 * Our read ends of one task's pipes: stdout and stderr (split into lines,
 * under the shared log quota), the status pipe (last line only, resting one
 * poll interval after each read), the launcher's report pipe and the canary.
 * `allClosed` settles once every one of them reached EOF: one of the facts a
 * task's completion waits for.
 */
import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import { LastLineReader } from './lastLineReader.js';
import { LineSplitter, MAX_LINE_BYTES } from './lineSplitter.js';
import type { LogQuota } from './logRateLimiter.js';
import type { LogLine, LogStream } from './taskSpec.js';

export type PipeName = LogStream | 'status' | 'canary' | 'launcher';

/**
 * Lines delivered from a task's pipes after its processes are gone; the rest
 * is counted and dropped. Enough for a full pipe of one-character lines and
 * what the stream had buffered (a task that exits loses no output), and a
 * bound against a writer that escaped and keeps writing.
 */
export const MAX_DRAINED_LINES = 100_000;

export interface TaskPipeHooks {
  readonly onLog: (line: LogLine) => void;
  /** Text the launcher wrote on its report pipe (failures, a namespace's init). */
  readonly onLauncherOutput: (text: string) => void;
  readonly onLauncherClosed: () => void;
  /** Every pipe but the launcher's reached EOF. */
  readonly onTaskPipesClosed: () => void;
  readonly onError: (pipe: PipeName, message: string) => void;
}

export class TaskPipes {
  readonly allClosed: Promise<void>;
  private resolveAllClosed!: () => void;
  private readonly open = new Set<PipeName>();
  private readonly readEnds: { fd: number; socket: Socket }[] = [];
  private readonly logSockets: Socket[] = [];
  private statusSocket: Socket | undefined;
  private statusResume: NodeJS.Timeout | undefined;
  private lastStatusLine: string | undefined;
  private quota: LogQuota | undefined;
  private draining = false;
  private drainedLines = 0;
  private dropped = 0;

  constructor(private readonly hooks: TaskPipeHooks) {
    this.allClosed = new Promise((resolve) => (this.resolveAllClosed = resolve));
  }

  /** The last line the task wrote to its status pipe. */
  get statusLine(): string | undefined {
    return this.lastStatusLine;
  }

  /** Lines dropped past MAX_DRAINED_LINES. */
  get droppedLines(): number {
    return this.dropped;
  }

  get openNames(): readonly PipeName[] {
    return [...this.open];
  }

  /** Starts reading every pipe; `fds` are our read ends. */
  read(fds: Partial<Record<PipeName, number>>, pollMs: number, quota: LogQuota | undefined): void {
    this.quota = quota;
    if (fds.stdout !== undefined) this.readLog('stdout', fds.stdout);
    if (fds.stderr !== undefined) this.readLog('stderr', fds.stderr);
    if (fds.status !== undefined) this.readStatus(fds.status, pollMs);
    if (fds.launcher !== undefined)
      this.socket('launcher', fds.launcher).on('data', (chunk: Buffer) =>
        this.hooks.onLauncherOutput(chunk.toString('utf8')),
      );
    if (fds.canary !== undefined) this.socket('canary', fds.canary).resume();
    if (this.open.size === 0) this.resolveAllClosed();
  }

  /** The log quota ran out: stop reading output until it refills (the task blocks on its writes). */
  pause(): void {
    if (!this.draining) for (const socket of this.logSockets) socket.pause();
  }

  resume(): void {
    for (const socket of this.logSockets) socket.resume();
  }

  /**
   * The task's processes are gone: their slot must not wait for a paused
   * pipe, so what is left is read without the quota (the rate limit protects
   * us from running tasks, not dead ones), up to MAX_DRAINED_LINES.
   */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.resume();
    if (this.statusResume) clearTimeout(this.statusResume);
    this.statusSocket?.resume();
  }

  /** Closes our ends now (the launch failed, or the task is given up on). */
  destroy(): void {
    for (const { socket } of this.readEnds) socket.destroy();
    this.open.clear();
    this.resolveAllClosed();
  }

  dispose(): void {
    this.quota?.dispose();
    if (this.statusResume) clearTimeout(this.statusResume);
  }

  /** Adds the inode of every open pipe to a /proc scan (processes holding them belong to the task). */
  addInodes(inodes: Map<number, string>, invocationId: string): void {
    for (const { fd, socket } of this.readEnds) {
      // A destroyed socket's descriptor may already belong to someone else.
      if (socket.destroyed) continue;
      try {
        inodes.set(fstatSync(fd).ino, invocationId);
      } catch {
        // closed meanwhile
      }
    }
  }

  private socket(name: PipeName, fd: number): Socket {
    const socket = new Socket({ fd, readable: true, writable: false });
    this.open.add(name);
    this.readEnds.push({ fd, socket });
    socket.once('close', () => {
      this.open.delete(name);
      if (name === 'launcher') this.hooks.onLauncherClosed();
      else if (![...this.open].some((other) => other !== 'launcher')) this.hooks.onTaskPipesClosed();
      if (this.open.size === 0) this.resolveAllClosed();
    });
    socket.on('error', (error) => this.hooks.onError(name, error.message));
    return socket;
  }

  private readLog(stream: LogStream, fd: number): void {
    const splitter = new LineSplitter();
    const socket = this.socket(stream, fd);
    this.logSockets.push(socket);
    const deliver = (line: Buffer) => {
      if (this.draining && ++this.drainedLines > MAX_DRAINED_LINES) {
        this.dropped++;
        return;
      }
      this.hooks.onLog({ stream, text: line.toString('utf8'), time: Date.now() });
    };
    socket.on('data', (chunk: Buffer) => {
      let lines = 0;
      splitter.push(chunk, (line) => {
        lines++;
        deliver(line);
      });
      if (lines > 0 && !this.draining) this.quota?.spend(lines);
    });
    socket.once('end', () => splitter.end(deliver));
  }

  /**
   * The last line wins; a trailing empty line erases the status. Reading is
   * rate-limited: after each chunk the pipe rests one poll interval, so a
   * task that floods its status pipe blocks on its own writes instead of
   * keeping the supervisor busy.
   */
  private readStatus(fd: number, pollMs: number): void {
    const reader = new LastLineReader(MAX_LINE_BYTES);
    const socket = this.socket('status', fd);
    this.statusSocket = socket;
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      this.lastStatusLine = reader.last;
      if (this.draining) return;
      socket.pause();
      this.statusResume = setTimeout(() => socket.resume(), pollMs);
      this.statusResume.unref();
    });
    socket.once('end', () => {
      reader.end();
      this.lastStatusLine = reader.last;
    });
  }
}
