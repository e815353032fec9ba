/**
 * The scheduler's own log: structured JSON (pino) on stderr, human-readable
 * when stderr is a terminal. Library code takes a `Logger` and never writes
 * to the console.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  const pretty = options.pretty ?? process.stderr.isTTY === true;
  const level = options.level ?? process.env['BISTRO_LOG_LEVEL'] ?? 'info';
  if (pretty) {
    return pino(
      { level, base: undefined },
      pino.transport({ target: 'pino-pretty', options: { destination: 2, colorize: true } }),
    );
  }
  return pino({ level, base: undefined }, pino.destination({ dest: 2, sync: false }));
}

/** A logger that drops everything (library use, tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
