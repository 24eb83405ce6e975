// Logging: JSON lines for machines (default when stderr is not a terminal, or LPMOS_LOG_FORMAT=json),
// readable lines for people (a terminal, or LPMOS_LOG_FORMAT=pretty). Level from LPMOS_LOG_LEVEL.
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };
export type LogFormat = 'json' | 'pretty';

export interface LogOptions {
  format?: LogFormat;
  level?: string;
  name?: string;
  /** Where lines go; default stderr (fd 2), so stdout stays clean for `-o json`. */
  destination?: DestinationStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const env = process.env;
  const format: LogFormat = opts.format ?? ((env.LPMOS_LOG_FORMAT as LogFormat | undefined) ?? (process.stderr.isTTY ? 'pretty' : 'json'));
  const level = opts.level ?? env.LPMOS_LOG_LEVEL ?? 'info';
  const base = { name: opts.name ?? 'lpmos' };
  if (format === 'pretty') {
    const stream = pretty({ destination: opts.destination ?? 2, colorize: process.stderr.isTTY, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true });
    return pino({ level, base }, stream);
  }
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, opts.destination ?? pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything: for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
