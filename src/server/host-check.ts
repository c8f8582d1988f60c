/**
 * Moved to http/host-check.ts (HTTP-edge helpers live in src/http/). Kept only
 * while config/load-config.ts still imports it from here: delete this file
 * once the config loader imports http/host-check.js.
 */
export { originAllowList } from '../http/host-check.js';
