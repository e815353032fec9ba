/**
 * Node name templates such as "{parent}__{i}": `{var}` is replaced by its
 * value, `{{` and `}}` are literal braces. Unknown variables are errors, found
 * when the template is compiled (at config time, not mid-refresh).
 */

export type NameTemplate = (vars: Readonly<Record<string, string>>) => string;

export function compileNameTemplate(format: string, allowed: readonly string[]): NameTemplate | string {
  const parts: { literal: string; variable?: string }[] = [];
  let literal = '';
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]!;
    if ((ch === '{' || ch === '}') && format[i + 1] === ch) {
      literal += ch;
      i++;
    } else if (ch === '{') {
      const close = format.indexOf('}', i);
      if (close < 0) return `unclosed "{" at position ${i} in format ${JSON.stringify(format)}`;
      const variable = format.slice(i + 1, close);
      if (!allowed.includes(variable)) {
        return `unknown variable {${variable}} in format ${JSON.stringify(format)}; allowed: ${allowed.map((v) => `{${v}}`).join(', ')}`;
      }
      parts.push({ literal, variable });
      literal = '';
      i = close;
    } else if (ch === '}') {
      return `unmatched "}" at position ${i} in format ${JSON.stringify(format)}`;
    } else {
      literal += ch;
    }
  }
  parts.push({ literal });
  return (vars) => {
    let out = '';
    for (const part of parts) {
      out += part.literal;
      if (part.variable !== undefined) out += vars[part.variable] ?? '';
    }
    return out;
  };
}
