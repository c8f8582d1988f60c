/** The importer: OpenAPI spec → one ToolDefinition per operation. */
export { importBackend, type ImportBackendOptions, type ImportedBackend } from './import-backend.js';
export { loadSpec, type LoadedSpec, type LoadSpecOptions, type SpecVersion } from './load-spec.js';
export { TOOL_NAME_PATTERN } from './tool-name.js';
export type * from './tool-definition.js';
