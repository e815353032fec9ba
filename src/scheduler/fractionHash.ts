/**
 * The stable hash behind `fraction_of_nodes`: 64-bit FNV-1a of the
 * UTF-8 bytes of `node + "\0" + job`. A node passes a fraction f iff
 * hash < f * 2^64. Stable across builds and machines, unlike the original's.
 */

const encoder = new TextEncoder();
const TWO_32 = 4294967296;

/** Returns [high, low] 32-bit halves. */
export function fnv1a64(text: string): [number, number] {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (const byte of encoder.encode(text)) {
    lo = (lo ^ byte) >>> 0;
    // h * 0x100000001b3 mod 2^64 = h * 0x1b3 + (h << 40)
    const low = lo * 0x1b3;
    const carry = Math.floor(low / TWO_32);
    hi = (Math.imul(hi, 0x1b3) + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = low >>> 0;
  }
  return [hi, lo];
}

export function passesFraction(node: string, job: string, fraction: number): boolean {
  if (fraction >= 1) return true;
  const [hi, lo] = fnv1a64(`${node}\u0000${job}`);
  // Compare hi:lo < fraction * 2^64 using the high word first (exact enough for any useful fraction).
  const limit = fraction * TWO_32;
  const limitHi = Math.floor(limit);
  if (hi !== limitHi) return hi < limitHi;
  return lo < (limit - limitHi) * TWO_32;
}
