/**
 * Leaf value schemas shared by settings and jobs. Each carries a description
 * used as the "expected ..." part of error messages.
 */
import { z } from 'zod';

export const boolean = z.boolean().describe('true or false');
export const finiteNumber = z.number().finite().describe('a number');
export const nonNegativeNumber = z.number().finite().min(0).describe('a number >= 0');
export const integer = z.number().int().describe('an integer');
export const nonNegativeInteger = z.number().int().min(0).describe('an integer >= 0');
export const positiveInteger = z.number().int().min(1).describe('an integer >= 1');
export const string = z.string().describe('a string');
export const nonEmptyString = z.string().min(1).describe('a non-empty string');
export const stringArray = z.array(z.string()).describe('an array of strings');
export const jsonObject = z.record(z.string(), z.unknown()).describe('an object');
export const signalNumber = z.number().int().min(0).max(64).describe('a signal number from 0 to 64');

/**
 * Why a node name is refused, or undefined. Node names become task
 * arguments and log keys: a NUL would cut an argv entry short (two nodes
 * would run as one), control characters would forge log lines.
 */
export function nodeNameProblem(name: string): string | undefined {
  if (name === '') return 'a node name may not be empty';
  const bad = controlCharacterIn(name);
  if (bad !== undefined)
    return `node name ${JSON.stringify(name.slice(0, 200))} contains the control character ${bad}`;
  return undefined;
}

/** The first control character (U+0000-U+001F, U+007F) in `text` as "U+XXXX", or undefined. */
export function controlCharacterIn(text: string): string | undefined {
  // eslint-disable-next-line no-control-regex
  const bad = /[\u0000-\u001f\u007f]/.exec(text);
  return bad ? `U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}` : undefined;
}

/** A job name becomes a directory name, so it is restricted. */
export const JOB_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,240}$/;

export function jobNameProblem(name: string): string | undefined {
  if (!JOB_NAME_PATTERN.test(name)) {
    return `job name ${JSON.stringify(name)} must be 1 to 240 characters from [A-Za-z0-9_.-]`;
  }
  if (name === '.' || name === '..') return `job name ${JSON.stringify(name)} is reserved`;
  return undefined;
}

/** Bistro's seconds-as-float to whole milliseconds: truncation (reference conventions). */
export function secondsToMs(seconds: number): number {
  return Math.trunc(seconds * 1000);
}
