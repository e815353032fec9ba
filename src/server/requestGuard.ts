/**
 * Checks every HTTP request passes before its body is looked at: the Host
 * header must name this server (DNS rebinding), mutations must be JSON and
 * same-origin (cross-site forms and `text/plain` posts), and a body may not
 * nest deeper than MAX_BODY_DEPTH. Pure functions; httpApp.ts applies them.
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';

/** Deepest nesting of objects and arrays a request body may have. */
export const MAX_BODY_DEPTH = 64;

export interface HostPolicy {
  /** The address the server is bound to. */
  readonly address: string;
  /** Extra host names the Host header may carry (a DNS name in front of the server). */
  readonly allowedHosts?: readonly string[];
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

export function isLoopbackAddress(address: string): boolean {
  return address === 'localhost' || address === '::1' || /^127\.\d+\.\d+\.\d+$/.test(address);
}

/** The host name of a Host header value ("name:port", "[v6]:port"), lower-cased. */
export function hostNameOf(header: string): string {
  const value = header.trim().toLowerCase();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    return value.slice(1, end < 0 ? undefined : end);
  }
  const colon = value.lastIndexOf(':');
  return colon >= 0 && value.indexOf(':') === colon ? value.slice(0, colon) : value;
}

/**
 * Why the Host header is refused, or undefined when it names this server:
 * the bound address (and `localhost` for a loopback bind), any IP literal
 * for a wildcard bind (a rebinding attack needs a DNS name), this host's
 * name, or a configured name.
 */
export function hostProblem(header: string | undefined, policy: HostPolicy): string | undefined {
  if (header === undefined || header === '') return 'the request has no Host header';
  const name = hostNameOf(header);
  const allowed = new Set((policy.allowedHosts ?? []).map((host) => host.toLowerCase()));
  const bound = policy.address.toLowerCase();
  if (allowed.has(name) || name === bound) return undefined;
  if (isLoopbackAddress(bound) && isLoopbackAddress(name)) return undefined;
  if (WILDCARDS.has(bound) && (isIP(name) !== 0 || name === 'localhost' || name === hostname().toLowerCase()))
    return undefined;
  return `the Host header ${JSON.stringify(header.slice(0, 200))} does not name this server (${policy.address}); allow a name with --api-allowed-hosts`;
}

/** Why a state-changing request is refused as cross-site, or undefined. */
export function crossSiteProblem(headers: {
  readonly origin?: string | undefined;
  readonly host?: string | undefined;
  readonly 'sec-fetch-site'?: string | undefined;
}): string | undefined {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    return `cross-site requests are refused (Sec-Fetch-Site: ${site.slice(0, 50)})`;
  const origin = headers.origin;
  if (origin === undefined) return undefined;
  let originHost: string;
  try {
    originHost = new URL(origin).host.toLowerCase();
  } catch {
    return `cross-site requests are refused (Origin: ${origin.slice(0, 200)})`;
  }
  if (originHost !== (headers.host ?? '').trim().toLowerCase())
    return `cross-site requests are refused (Origin: ${origin.slice(0, 200)})`;
  return undefined;
}

/** Whether a Content-Type header is JSON (`application/json`, any parameters). */
export function isJsonContentType(header: string | undefined): boolean {
  return header !== undefined && header.split(';')[0]!.trim().toLowerCase() === 'application/json';
}

/**
 * Whether JSON text nests objects and arrays deeper than `max`: one linear
 * scan of the text, before JSON.parse, so no deep value is ever built.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
