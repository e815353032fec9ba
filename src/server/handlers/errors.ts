/** `errors`: the error registry. */
import type { Handler } from '../apiContext.js';

export const errors: Handler<'errors'> = (_args, context) => context.errors();
