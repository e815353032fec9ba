/**
 * The scheduler's own log: structured JSON (pino) on stderr, human-readable
 * when stderr is a terminal. Library code takes a `Logger` and never writes
 * to the console.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/**
 * How lines reach stderr: written from the libuv pool, never on the event
 * loop, so a reader of stderr that stalls (a full pipe, a stuck log
 * collector) cannot stall kills and completions. While it stalls, lines
 * wait in memory up to 16 MiB; past that, new lines are dropped rather than
 * kept without bound. What waits at exit is written synchronously then.
 */
const STDERR = { dest: 2, sync: false, maxLength: 16 * 1024 * 1024 } as const;

export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  const pretty = options.pretty ?? process.stderr.isTTY === true;
  const level = options.level ?? process.env['BISTRO_LOG_LEVEL'] ?? 'info';
  if (pretty) {
    return pino(
      { level, base: undefined },
      pino.transport({ target: 'pino-pretty', options: { destination: 2, colorize: true } }),
    );
  }
  return pino({ level, base: undefined }, pino.destination(STDERR));
}

/** A logger that drops everything (library use, tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
