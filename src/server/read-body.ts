/**
 * Moved to http/read-body.ts (HTTP-edge helpers live in src/http/). Kept only
 * while server/ai-endpoint.ts still imports it from here: delete this file
 * once that endpoint imports http/read-body.js.
 */
export { MAX_JSON_DEPTH, readJsonBody } from '../http/read-body.js';
