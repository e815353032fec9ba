/** Numeric flags, checked: a bad value is a usage error (exit 2) naming the flag. */
import { CliExit, printError } from './output.js';

export function seconds(name: string, value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) {
    printError(`${name}: expected a positive number of seconds, received ${JSON.stringify(value)}`);
    throw new CliExit(2);
  }
  return number;
}

export function whole(name: string, value: string, min = 0): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < min) {
    printError(`${name}: expected a number >= ${min}, received ${JSON.stringify(value)}`);
    throw new CliExit(2);
  }
  return number;
}
