/** `errors`: the error registry. */
import type { Handler } from '../apiContext.js';

export const errors: Handler = { mutating: false, run: (_args, context) => context.errors() };
