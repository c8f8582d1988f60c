/**
 * Descriptions as tools/list serves them: plain text, one paragraph, cut at a
 * sentence. Spec prose is written for documentation pages (Markdown, HTML,
 * links, several paragraphs of detail); a model choosing a tool or filling an
 * argument needs the first thing it says, and every byte is repeated in every
 * tools/list of every session.
 */

/** Options of {@link shortText}. */
export interface ShortTextOptions {
  /** Keep only the first sentence (default: as many whole sentences as fit). */
  firstSentence?: boolean;
}

/** HTML elements that are formatting only (Stripe writes descriptions in HTML). */
const HTML_TAG = /<\/?(?:a|abbr|b|i|em|strong|code|kbd|span|p|div|ul|ol|li|pre|h[1-6]|table|thead|tbody|tr|td|th|sup|sub|small|blockquote)\b[^<>]*>/gi;
const HTML_BREAK = /<br\s*\/?>/gi;
/** Where a paragraph ends: a blank line, or the end of an HTML paragraph. */
const PARAGRAPH_END = /\n[ \t]*\n|<\/p\s*>/gi;
/** `[text](url)` and `![alt](url)` → `text`: the target is for a browser, not for a model. */
const MD_LINK = /!?\[([^\][]*)\]\([^()\s]*(?:\s+"[^"]*")?\)/g;
/** Words ending in a dot that do not end a sentence. */
const ABBREVIATION = /(?:^|[\s(])(?:e\.g|i\.e|etc|vs|cf|approx|incl|esp|al|resp|ca)\.$/i;

/**
 * `value` as plain text: HTML formatting tags and Markdown link targets
 * removed, the first paragraph only, whitespace collapsed; then whole
 * sentences up to `max` characters. When even the first sentence is longer,
 * it is cut at a word boundary and ends with "…". Undefined for a non-string
 * or blank value.
 */
export function shortText(value: unknown, max: number, opts: ShortTextOptions = {}): string | undefined {
  if (typeof value !== 'string') return undefined;
  const text = firstParagraph(value, max);
  return text === '' ? undefined : sentences(text, max, opts);
}

/**
 * The first paragraph with text in it, as plain text (tags and link targets
 * removed, whitespace collapsed). Kubernetes alone has 8 MB of prose, so a
 * long paragraph is cleaned from a prefix when that is safe: the prefix
 * leaves more than `max` characters and has no tag or link that the cut could
 * have split.
 */
function firstParagraph(value: string, max: number): string {
  const enough = 2 * max + 100;
  PARAGRAPH_END.lastIndex = 0;
  let start = 0;
  for (;;) {
    const m = PARAGRAPH_END.exec(value);
    const end = m ? m.index : value.length;
    let text = '';
    if (end - start > enough) {
      const raw = value.slice(start, start + enough);
      if (!raw.includes('<') && !raw.includes('[')) text = plain(raw);
      if (text.length <= max + 20) text = '';
    }
    if (text === '') text = plain(value.slice(start, end));
    if (text !== '' || !m) return text;
    start = m.index + m[0].length;
  }
}

function plain(raw: string): string {
  let text = raw;
  if (text.includes('<')) text = text.replace(HTML_BREAK, ' ').replace(HTML_TAG, '');
  if (text.includes('](')) text = text.replace(MD_LINK, '$1');
  return text.replace(/\s+/g, ' ').trim();
}

/** Whole sentences of `text` up to `max` characters (see {@link shortText}). */
function sentences(text: string, max: number, opts: ShortTextOptions): string {
  if (text.length <= max && !opts.firstSentence) return text;

  let kept = 0;
  for (const m of text.matchAll(/[.!?]["')\]]?(?=\s)/g)) {
    const end = m.index + m[0].length;
    if (end > max) break;
    if (m[0][0] === '.' && ABBREVIATION.test(text.slice(Math.max(0, m.index - 8), m.index + 1))) continue;
    kept = end;
    if (opts.firstSentence) break;
  }
  if (kept > 0) return text.slice(0, kept);
  if (text.length <= max) return text;
  return cutAtWord(text, max);
}

function cutAtWord(text: string, max: number): string {
  const cut = text.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return (space > max * 0.6 ? cut.slice(0, space) : cut).replace(/[\s,;:]+$/, '') + '…';
}
