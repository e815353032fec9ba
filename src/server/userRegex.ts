/** A user's regex argument, compiled once per query on the linear-time engine; a 400 if refused. */
import { compileLinearRegex, type LinearRegex } from '../text/linearRegex.js';
import { ApiError } from './apiErrors.js';

export function regexArg(field: string, pattern: string | undefined): LinearRegex | undefined {
  if (pattern === undefined || pattern === '') return undefined;
  try {
    return compileLinearRegex(pattern);
  } catch (error) {
    throw new ApiError(`invalid "${field}": ${(error as Error).message}`);
  }
}
