/**
 * Reads a config file without ever blocking the event loop on something
 * that is not a file: opening a FIFO for reading waits for a writer, and a
 * device may never end. The file is opened non-blocking and checked with
 * fstat before any read; anything but a regular file is a ConfigError.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
import { ConfigError } from './issues.js';

/** Larger configs are refused: the whole file is parsed at every change. */
export const MAX_CONFIG_BYTES = 64 * 1024 * 1024;

function kindOf(stat: import('node:fs').Stats): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/** The file's text; throws ConfigError if it is not a regular file or is too large. */
export function readRegularFile(file: string): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile())
      throw new ConfigError(`${file}: the config must be a regular file, but it is ${kindOf(stat)}`);
    if (stat.size > MAX_CONFIG_BYTES)
      throw new ConfigError(
        `${file}: the config is ${stat.size} bytes, more than the ${MAX_CONFIG_BYTES} allowed`,
      );
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}
