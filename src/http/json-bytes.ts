/**
 * Reading JSON text as bytes, before it is parsed: what the HTTP edge's
 * nesting check (http/read-body.ts) and the argument limits
 * (mcp/bound-request.ts) share. Parsing is what a hostile body makes costly,
 * so both look at the bytes first. UTF-8 multi-byte sequences never contain
 * an ASCII bracket, quote or backslash, so a byte compare is exact.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * The bytes a scan looks for. A scanning module destructures them into its own
 * constants once (`const { QUOTE } = JSON_BYTES`): its loops read them per byte,
 * and an imported binding read in a loop is a property read on a module record
 * wherever modules are transformed (the test runner's are), several times slower.
 */
export const JSON_BYTES = Object.freeze({
  QUOTE,
  BACKSLASH,
  OPEN_OBJECT: 0x7b,
  CLOSE_OBJECT: 0x7d,
  OPEN_ARRAY: 0x5b,
  CLOSE_ARRAY: 0x5d,
  COLON: 0x3a,
  COMMA: 0x2c,
});

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
