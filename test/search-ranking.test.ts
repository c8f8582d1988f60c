import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { importBackend } from '../src/openapi/import-backend.js';
import { ToolRegistry, type MetaTool } from '../src/registry/registry.js';
import type { SearchCatalogue } from '../src/registry/search-catalogue.js';

/**
 * Search quality on a real large spec (GitHub, 845 operations, from the
 * corpus): what an agent would type, and the operation it wants. Ranking
 * changes must not make these worse.
 */

const GITHUB = fileURLToPath(new URL('../specs/real/github.com_api.github.com.json', import.meta.url));

const QUERIES: Array<[string, string]> = [
  ['list pull request reviews', 'pulls_list-reviews'],
  ['create an issue comment', 'issues_create-comment'],
  ['delete a repository', 'repos_delete'],
  ['get the authenticated user', 'users_get-authenticated'],
  ['star a repository', 'activity_star-repo-for-authenticated-user'],
  ['list workflow runs for a repository', 'actions_list-workflow-runs-for-repo'],
  ['add labels to an issue', 'issues_add-labels'],
  ['merge a pull request', 'pulls_merge'],
  ['search code', 'search_code'],
  ['create a gist', 'gists_create'],
  ['list branches', 'repos_list-branches'],
  ['get file contents', 'repos_get-content'],
  ['list commits', 'repos_list-commits'],
  ['create a release', 'repos_create-release'],
  ['list organization members', 'orgs_list-members'],
  ['get a user by username', 'users_get-by-username'],
  ['create a repository for the authenticated user', 'repos_create-for-authenticated-user'],
  ['fork a repository', 'repos_create-fork'],
  ['list repository tags', 'repos_list-tags'],
  ['create a repository webhook', 'repos_create-webhook'],
  ['download workflow run logs', 'actions_download-workflow-run-logs'],
  ['update a pull request', 'pulls_update'],
  ['list notifications', 'activity_list-notifications-for-authenticated-user'],
  ['get a commit', 'repos_get-commit'],
  ['list deployments', 'repos_list-deployments'],
  ['create a check run', 'checks_create'],
  ['list collaborators', 'repos_list-collaborators'],
  ['get rate limit', 'rate-limit_get'],
  ['create pull request', 'pulls_create'],
  ['list open issues in a repo', 'issues_list-for-repo'],
];

let catalogue: SearchCatalogue;
beforeAll(async () => {
  const imported = await importBackend({ name: 'github', spec: GITHUB, baseUrl: 'http://127.0.0.1:9' });
  const registry = ToolRegistry.build(imported.tools, [], new Map([['github', { mode: 'auto', toolBudget: 128, title: imported.title }]]));
  catalogue = (registry.get('github_search_operations') as MetaTool).catalogue;
}, 60_000);

describe('search ranking on the GitHub spec', () => {
  it('finds what agents ask for: nearly always in the top 3, always in the default 10', () => {
    const ranks = QUERIES.map(([query, want]) => ({
      query,
      rank: catalogue.search(query, { limit: 10 }).results.findIndex((r) => r.name === `github_${want}`),
    }));
    expect(ranks.filter((r) => r.rank === -1)).toEqual([]);
    const top3 = ranks.filter((r) => r.rank < 3).length;
    expect(top3, JSON.stringify(ranks.filter((r) => r.rank >= 3))).toBeGreaterThanOrEqual(28);
    expect(ranks.filter((r) => r.rank === 0).length).toBeGreaterThanOrEqual(20);
  });
});
