import { describe, expect, it } from 'vitest';
import { normalizeTerm, OperationIndex, tokenize, type SearchableOperation } from './search-index.js';

describe('tokenize', () => {
  it.each([
    ['getRepoContent', ['get', 'repo', 'content']],
    ['pulls_list-reviews', ['pulls', 'list', 'reviews']],
    ['/repos/{owner}/{repo}/pulls/{pull_number}', ['repos', 'owner', 'repo', 'pulls', 'pull', 'number']],
    ['HTTPServerStatus', ['http', 'server', 'status']],
    ['listItemsV2', ['list', 'items', 'v2']],
    ['oauth2Token', ['oauth2', 'token']],
    ['Créer une entrée', ['créer', 'une', 'entrée']],
    ['', []],
  ])('%s', (text, words) => {
    expect(tokenize(text)).toEqual(words);
  });
});

describe('normalizeTerm', () => {
  it.each([
    ['repositories', 'repository'],
    ['addresses', 'address'],
    ['reviews', 'review'],
    ['status', 'status'],
    ['analysis', 'analysis'],
    ['access', 'access'],
    ['Items', 'item'],
    ['the', null],
    ['of', null],
    ['gas', 'gas'],
  ])('%s → %s', (term, normal) => {
    expect(normalizeTerm(term)).toBe(normal);
  });
});

const OPS: SearchableOperation[] = [
  { name: 'repos_list-for-org', method: 'GET', path: '/orgs/{org}/repos', summary: 'List organization repositories', tags: ['repos'] },
  { name: 'repos_create-in-org', method: 'POST', path: '/orgs/{org}/repos', summary: 'Create an organization repository', tags: ['repos'] },
  { name: 'pulls_list-reviews', method: 'GET', path: '/repos/{owner}/{repo}/pulls/{pull_number}/reviews', summary: 'List reviews for a pull request', tags: ['pulls'] },
  { name: 'pulls_create-review', method: 'POST', path: '/repos/{owner}/{repo}/pulls/{pull_number}/reviews', summary: 'Create a review for a pull request', tags: ['pulls'] },
  { name: 'issues_remove-label', method: 'DELETE', path: '/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}', summary: 'Remove a label from an issue', tags: ['issues'] },
  { name: 'issues_list-labels-for-repo', method: 'GET', path: '/repos/{owner}/{repo}/labels', summary: 'List labels for a repository', tags: ['Issues'] },
  { name: 'users_get-authenticated', method: 'GET', path: '/user', summary: 'Get the authenticated user', description: 'Get the authenticated user. OAuth app tokens need the user scope.', tags: ['users'] },
  { name: 'getInvoicePdf', method: 'GET', path: '/invoices/{id}/pdf', description: 'Downloads the invoice as a PDF document.' },
];
const index = new OperationIndex(OPS);
const names = (query: string, limit = 3, tag?: string) =>
  index.search(query, { limit, ...(tag !== undefined ? { tag } : {}) }).ids.map((id) => OPS[id]!.name);

describe('OperationIndex.search', () => {
  it('ranks the operation whose name and summary match first', () => {
    expect(names('list pull request reviews')[0]).toBe('pulls_list-reviews');
    expect(names('create a review')[0]).toBe('pulls_create-review');
    expect(names('authenticated user')[0]).toBe('users_get-authenticated');
  });

  it('matches plurals, word prefixes and small typos', () => {
    expect(names('organization repository')[0]).toBe('repos_list-for-org');
    expect(names('repo')).toContain('repos_list-for-org');
    expect(names('reviw')).toContain('pulls_list-reviews');
    expect(names('authentcated')[0]).toBe('users_get-authenticated');
  });

  it('maps verbs to HTTP methods ("remove" finds DELETE, "download" searches descriptions)', () => {
    expect(names('delete label')[0]).toBe('issues_remove-label');
    expect(names('download invoice pdf')[0]).toBe('getInvoicePdf');
  });

  it('searches paths', () => {
    expect(names('pull_number', 2).sort()).toEqual(['pulls_create-review', 'pulls_list-reviews']);
    expect(names('orgs', 2).sort()).toEqual(['repos_create-in-org', 'repos_list-for-org']);
  });

  it('filters by tag, case-insensitively', () => {
    expect(names('list', 10, 'ISSUES')).toEqual(['issues_list-labels-for-repo']);
    expect(names('list', 10, 'nope')).toEqual([]);
  });

  it('counts every match and returns at most limit', () => {
    const hits = index.search('list', { limit: 1 });
    expect(hits.ids).toHaveLength(1);
    expect(hits.total).toBeGreaterThanOrEqual(3);
  });

  it('an empty query (or stop words only) browses in spec order', () => {
    expect(index.search('', { limit: 2 })).toEqual({ ids: [0, 1], total: OPS.length });
    expect(index.search('the of', { limit: 50, tag: 'pulls' })).toEqual({ ids: [2, 3], total: 2 });
  });

  it('finds nothing for words no operation uses', () => {
    expect(index.search('xylophone', { limit: 10 })).toEqual({ ids: [], total: 0 });
  });
});
