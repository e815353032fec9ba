/** Histogram codes (the original's alphabet) to the UI's status categories. */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export const CATEGORIES = [
  'done',
  'running',
  'backoff',
  'incomplete',
  'error',
  'failed',
  'unstarted',
  'avoided',
  'disabled',
] as const;
export type Category = (typeof CATEGORIES)[number];

export function codeToBits(code: string): number {
  return ALPHABET.indexOf(code[0] ?? 'A') + (code.length > 1 ? 64 * ALPHABET.indexOf(code[1]!) : 0);
}

export function category(bits: number): Category {
  if (bits & 256) return 'disabled';
  if (bits & 128) return 'avoided';
  if (bits & 2) return 'running';
  if (bits & 64) return 'backoff';
  if (bits & 4) return 'done';
  if (bits & 16) return 'failed';
  if (bits & 32) return 'error';
  if (bits & 8) return 'incomplete';
  return 'unstarted';
}

/** Counts per category from one level's histogram. */
export function summarize(counts: Record<string, number>): Record<Category, number> {
  const out = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  for (const [code, count] of Object.entries(counts)) out[category(codeToBits(code))] += count;
  return out;
}
