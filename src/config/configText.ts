/**
 * A config file as top-level entries of JSON text, and back. Importing a
 * file keeps each entry's exact text (its formatting, key order and number
 * spelling); an export writes the entries in order inside the standard
 * frame (`{`, two-space indented `"key": value` lines, `}`). A file in that
 * frame, such as any file prettier formats, round-trips byte for byte; any
 * other file round-trips value for value.
 */
import { parseConfigJson } from './config.js';
import { ConfigError } from './issues.js';
import { isPlainObject } from './reader.js';

export interface ConfigTextEntry {
  readonly key: string;
  /** The value's JSON text, as it appears in the file. */
  readonly text: string;
}

const INDENT = '  ';

/** The top-level entries of a config file's text, in file order (a repeated key: its last value, as JSON.parse). */
export function splitConfigText(text: string, file?: string): ConfigTextEntry[] {
  const parsed = parseConfigJson(text, file);
  if (!isPlainObject(parsed))
    throw new ConfigError(`${file ? `${file}: ` : ''}expected a JSON object at the top of the file`);
  const entries = new Map<string, string>();
  let at = skipSpace(text, 0) + 1; // past '{'
  for (;;) {
    at = skipSpace(text, at);
    if (text[at] === '}') break;
    if (text[at] === ',') at = skipSpace(text, at + 1);
    const keyEnd = endOfString(text, at);
    const key = JSON.parse(text.slice(at, keyEnd)) as string;
    at = skipSpace(text, keyEnd) + 1; // past ':'
    at = skipSpace(text, at);
    const valueEnd = endOfValue(text, at);
    entries.set(key, text.slice(at, valueEnd));
    at = valueEnd;
  }
  return [...entries].map(([key, value]) => ({ key, text: value }));
}

/** The text of a whole config file from its entries. */
export function joinConfigText(entries: readonly ConfigTextEntry[]): string {
  if (entries.length === 0) return '{}\n';
  const lines = entries.map((entry) => `${INDENT}${JSON.stringify(entry.key)}: ${entry.text}`);
  return `{\n${lines.join(',\n')}\n}\n`;
}

/** A value's text as an entry of the standard frame (what an export shows for a value written through the API). */
export function entryText(value: unknown): string {
  return JSON.stringify(value, null, 2).replaceAll('\n', `\n${INDENT}`);
}

function skipSpace(text: string, at: number): number {
  while (at < text.length && ' \t\n\r'.includes(text[at]!)) at++;
  return at;
}

/** `at` is on the opening quote; returns the index after the closing one. */
function endOfString(text: string, at: number): number {
  for (let i = at + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  return text.length;
}

/** The index after the JSON value starting at `at` (the text is known to be valid JSON). */
function endOfValue(text: string, at: number): number {
  const first = text[at];
  if (first === '"') return endOfString(text, at);
  if (first === '{' || first === '[') {
    let depth = 0;
    for (let i = at; i < text.length; i++) {
      const c = text[i];
      if (c === '"') i = endOfString(text, i) - 1;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return text.length;
  }
  let i = at;
  while (i < text.length && !',}] \t\n\r'.includes(text[i]!)) i++;
  return i;
}
