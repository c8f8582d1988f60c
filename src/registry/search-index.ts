/**
 * Full-text ranking over one backend's operations, for search mode.
 *
 * MiniSearch (BM25 over an inverted radix-tree index, prefix and fuzzy term
 * matching, per-field boosts, no dependencies) does the scoring; this module
 * decides what an operation's words are. API vocabulary needs its own
 * tokenizer: names are camelCase or snake_case (`reposListForOrg`,
 * `pulls_list-reviews`), paths are `/repos/{owner}/{repo}`, and agents write
 * plurals and verbs ("list repositories", "remove a label") that the spec
 * spells differently ("repository", DELETE).
 */
import MiniSearch, { type SearchResult } from 'minisearch';

/** What the index needs to know about one operation. */
export interface SearchableOperation {
  /** Tool name without the backend prefix (its words are the strongest signal). */
  name: string;
  /** Upper-case HTTP method. */
  method: string;
  path: string;
  summary?: string;
  description?: string;
  tags?: readonly string[];
}

export interface SearchOptions {
  /** At most this many results (the caller bounds it). */
  limit: number;
  /** Only operations carrying this tag (case-insensitive). */
  tag?: string;
  /** Only operations this accepts (by position): what the caller may see. */
  allow?: (id: number) => boolean;
}

export interface SearchHits {
  /** Positions of the matching operations in the indexed array, best first. */
  ids: number[];
  /** How many operations matched before the limit was applied. */
  total: number;
}

// Field weights: a word in the name or summary says more than one in a long
// description. Prefix matches count less than whole words ("reviewers" should
// not beat "reviews"). Tuned on the GitHub spec with the queries of
// test/search-ranking.test.ts (29 of 30 in the top 3, against 28 with MiniSearch's defaults).
const BOOST = { name: 2, summary: 2, tags: 2, path: 1.5, method: 1, description: 0.25 };
const WEIGHTS = { prefix: 0.15, fuzzy: 0.45 };

// The words agents use for what each method does, so "remove a label" finds DELETE /labels/{name}.
const METHOD_WORDS: Record<string, string> = {
  GET: 'get list read fetch show find retrieve',
  HEAD: 'head check exists',
  POST: 'post create add new send submit',
  PUT: 'put update replace set',
  PATCH: 'patch update modify edit change',
  DELETE: 'delete remove destroy',
  OPTIONS: 'options',
  TRACE: 'trace',
};

// Words too common to carry meaning; dropping them also keeps prefix search
// from expanding "a" or "to" over the whole vocabulary.
const STOP_WORDS = new Set(
  'a an and are as at be by for from i in into is it its me my of on or our that the their this to was we with you your'.split(' '),
);

const NON_WORD = /[^\p{L}\p{N}]+/u;
// getRepoContent → get Repo Content; HTTPServer → HTTP Server; v3Items → v3 Items.
const CAMEL = /\p{Ll}\p{Lu}|\p{Lu}\p{Lu}\p{Ll}|\p{N}\p{L}{2}/u;
const CAMEL_BOUNDARY = /(?<=\p{Ll})(?=\p{Lu})|(?<=\p{Lu})(?=\p{Lu}\p{Ll})|(?<=\p{N})(?=\p{L}{2})/u;

/** Splits text into lower-case words: non-alphanumerics and camelCase boundaries separate words. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const chunk of text.split(NON_WORD)) {
    if (!chunk) continue;
    // Most words of prose have no boundary inside: test before splitting (halves indexing time).
    if (!CAMEL.test(chunk)) {
      out.push(chunk.toLowerCase());
      continue;
    }
    for (const word of chunk.split(CAMEL_BOUNDARY)) if (word) out.push(word.toLowerCase());
  }
  return out;
}

/**
 * Normalises one word: drops stop words and folds English plurals (Porter's
 * step 1a), so "repositories" and "repository", "addresses" and "address" meet.
 */
export function normalizeTerm(term: string): string | null {
  const t = term.toLowerCase();
  if (STOP_WORDS.has(t)) return null;
  if (t.length > 4 && t.endsWith('ies')) return `${t.slice(0, -3)}y`;
  if (t.length > 4 && t.endsWith('sses')) return t.slice(0, -2);
  if (t.length > 3 && t.endsWith('s') && !/(ss|us|is)$/.test(t)) return t.slice(0, -1);
  return t;
}

interface Doc {
  id: number;
  name: string;
  summary: string;
  description: string;
  tags: string;
  path: string;
  method: string;
}

/**
 * A ranked index over a fixed array of operations. Build it once (it costs
 * tens of milliseconds per thousand operations) and query it many times.
 */
export class OperationIndex {
  private readonly mini: MiniSearch<Doc>;
  private readonly tagsById: ReadonlyArray<ReadonlySet<string>>;
  private readonly count: number;

  constructor(operations: readonly SearchableOperation[]) {
    this.count = operations.length;
    this.tagsById = operations.map((o) => new Set((o.tags ?? []).map((t) => t.toLowerCase())));
    this.mini = new MiniSearch<Doc>({
      fields: ['name', 'summary', 'description', 'tags', 'path', 'method'],
      storeFields: [],
      tokenize,
      processTerm: normalizeTerm,
    });
    this.mini.addAll(
      operations.map((o, id) => ({
        id,
        name: o.name,
        summary: o.summary ?? '',
        // The summary usually opens the description too: index the rest only once.
        description: o.description && o.summary && o.description.startsWith(o.summary) ? o.description.slice(o.summary.length) : (o.description ?? ''),
        tags: (o.tags ?? []).join(' '),
        path: o.path,
        method: METHOD_WORDS[o.method] ?? o.method,
      })),
    );
  }

  /**
   * Operations matching `query`, best first. An empty query (no word left after
   * tokenizing) matches every operation, in the order indexed, so an agent can
   * browse a tag.
   */
  search(query: string, options: SearchOptions): SearchHits {
    const tag = options.tag?.toLowerCase();
    const tagged = tag === undefined ? undefined : (id: number) => this.tagsById[id]?.has(tag) === true;
    const allow = options.allow;
    const filtered = tagged !== undefined && allow !== undefined ? (id: number) => tagged(id) && allow(id) : (tagged ?? allow);
    const inTag = filtered ?? (() => true);
    const terms = tokenize(query).map(normalizeTerm).filter((t): t is string => t !== null);
    if (terms.length === 0) {
      const ids: number[] = [];
      let total = 0;
      for (let id = 0; id < this.count; id++) {
        if (!inTag(id)) continue;
        total++;
        if (ids.length < options.limit) ids.push(id);
      }
      return { ids, total };
    }
    const results: SearchResult[] = this.mini.search(terms.join(' '), {
      boost: BOOST,
      weights: WEIGHTS,
      // Prefix matching from three letters ("repo" → "repository"), typo
      // tolerance from five (one edit up to nine letters, two beyond).
      prefix: (term) => term.length >= 3,
      fuzzy: (term) => (term.length >= 5 ? 0.2 : false),
      // The query was tokenized and normalised above already.
      tokenize: (text) => text.split(' '),
      processTerm: (term) => term,
      ...(filtered === undefined ? {} : { filter: (r: SearchResult) => filtered(r.id as number) }),
    });
    return { ids: results.slice(0, options.limit).map((r) => r.id as number), total: results.length };
  }
}
