/** `refresh_time`: epoch second of the last histogram pass (0 before the first). */
import type { Handler } from '../apiContext.js';

export const refreshTime: Handler<'refresh_time'> = (_args, context) => context.histograms().time;
