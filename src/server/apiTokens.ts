/**
 * The API's bearer tokens and who each one is. A token file holds either a
 * single token (its holder is called "token") or one `NAME TOKEN` pair per
 * line (blank lines and `#` comments skipped), so that config history can
 * say which client changed what. Comparison is constant-time.
 */
import { timingSafeEqual } from 'node:crypto';

export interface ApiToken {
  readonly name: string;
  readonly token: string;
}

/** Who a request without a token configured is: anyone who can reach the API. */
export const OPEN_API_ACTOR = 'api';

/** Parses a token file's text; throws naming the line of a malformed entry. */
export function parseApiTokens(text: string, file: string): ApiToken[] {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (lines.length === 0) throw new Error(`${file}: the API token file is empty`);
  const tokens = lines.map((line, index) => {
    const fields = line.split(/\s+/);
    if (fields.length === 1) return { name: 'token', token: fields[0]! };
    if (fields.length === 2) return { name: fields[0]!, token: fields[1]! };
    throw new Error(`${file}: entry ${index + 1} must be TOKEN or "NAME TOKEN"`);
  });
  const names = new Set(tokens.map((entry) => entry.name));
  if (names.size !== tokens.length) throw new Error(`${file}: two tokens have the same name`);
  return tokens;
}

/** The name of the token an `Authorization` header carries, if it is one of `tokens`. */
export function tokenHolder(header: string | undefined, tokens: readonly ApiToken[]): string | undefined {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  if (!match) return undefined;
  const given = Buffer.from(match[1]!);
  let holder: string | undefined;
  for (const entry of tokens) {
    const expected = Buffer.from(entry.token);
    // Every entry is compared, so the time taken says nothing about which matched.
    if (given.length === expected.length && timingSafeEqual(given, expected)) holder ??= entry.name;
  }
  return holder;
}
