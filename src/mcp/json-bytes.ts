/**
 * Reading JSON text as bytes, before it is parsed: what the HTTP edge's
 * nesting check (server/read-body.ts) and the argument limits
 * (mcp/bound-request.ts) share. Parsing is what a hostile body makes costly,
 * so both look at the bytes first. UTF-8 multi-byte sequences never contain
 * an ASCII bracket, quote or backslash, so a byte compare is exact.
 */
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const OPEN_OBJECT = 0x7b;
export const CLOSE_OBJECT = 0x7d;
export const OPEN_ARRAY = 0x5b;
export const CLOSE_ARRAY = 0x5d;
export const COLON = 0x3a;
export const COMMA = 0x2c;

/**
 * The index of the quote that closes the string opening at `open`, or -1.
 * `indexOf` finds each candidate natively; a quote is escaped by an odd run of
 * backslashes before it. Each backslash is counted once: linear.
 */
export function stringEnd(raw: Uint8Array, open: number): number {
  for (let j = raw.indexOf(QUOTE, open + 1); j >= 0; j = raw.indexOf(QUOTE, j + 1)) {
    let backslashes = 0;
    for (let k = j - 1; k > open && raw[k] === BACKSLASH; k--) backslashes++;
    if ((backslashes & 1) === 0) return j;
  }
  return -1;
}
