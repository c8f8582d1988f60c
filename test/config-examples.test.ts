import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../src/config/load-config.js';

/**
 * Every Gatehouse config the repository shows people loads through the real
 * loader (loadConfig: YAML, `${VAR}` interpolation, the schema, the checks
 * after it), so an example or a documented snippet cannot drift from the
 * schema unnoticed:
 *
 * - the YAML files under examples/ and docker/, and the YAML files a
 *   Kubernetes ConfigMap there carries; OpenAPI documents, Kubernetes objects
 *   and the Compose file are not configs and are told apart by their keys, so
 *   a new example config is checked whatever its name;
 * - every ```yaml block of the Markdown files (README.md, docs/, examples/),
 *   but those that are OpenAPI fragments. A block indented under a list item is
 *   dedented. A fragment (one section, e.g. `admin:` or `rules:`) is loaded as
 *   a config on its own, unwrapped: every section is optional or has defaults,
 *   so a section that is valid on its own is valid in any config.
 *
 * The variables the configs reference are set below (and nothing from the
 * machine's environment is used); a placeholder a snippet shows readers is
 * replaced by a value of its form.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const ENV: NodeJS.ProcessEnv = {
  GATEHOUSE_ADMIN_KEY: 'admin-key-0123456789abcdef',
  GATEHOUSE_API_KEY_SHA256: createHash('sha256').update('fleet-key').digest('hex'),
  GATEHOUSE_REDIS_URL: 'redis://127.0.0.1:6379',
  GATEHOUSE_POSTGRES_URL: 'postgres://gatehouse@127.0.0.1:5432/gatehouse',
  PGPASSWORD: 'pg-password',
  BILLING_KEY: 'billing-key',
  SEARCH_KEY: 'search-key',
  CRM_SECRET: 'crm-secret',
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'aws-secret',
  OPENAI_API_KEY: 'sk-openai',
  ANTHROPIC_API_KEY: 'sk-ant',
  VLLM_KEY: 'vllm-key',
  AZURE_OPENAI_KEY: 'azure-key',
  OTLP_TOKEN: 'otlp-token',
};

/** Placeholders the README shows in place of a value, and a value of the form it stands for. */
const PLACEHOLDERS: Record<string, string> = {
  '<sha256 hex of the key>': createHash('sha256').update('ci-bot-key').digest('hex'),
};

interface Sample {
  /** Where it is, for the test's name: `README.md:361`, `examples/kubernetes/configmap.yaml#gatehouse.yaml`. */
  where: string;
  text: string;
}

/** What a parsed YAML document is, by its keys. */
function kindOf(doc: unknown): 'openapi' | 'kubernetes' | 'compose' | 'config' {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return 'config';
  const keys = new Set(Object.keys(doc));
  if (keys.has('openapi') || keys.has('swagger') || keys.has('paths')) return 'openapi';
  if (keys.has('apiVersion') && keys.has('kind')) return 'kubernetes';
  if (keys.has('services')) return 'compose';
  return 'config';
}

/** The YAML files under `dir`, as paths relative to the repository. */
function yamlFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)))
    .sort();
}

/** The configs among the YAML files of examples/ and docker/ (and inside their ConfigMaps). */
function exampleConfigs(): Sample[] {
  const found: Sample[] = [];
  for (const file of [...yamlFiles('examples'), ...yamlFiles('docker')]) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const docs = parseAllDocuments(text);
    const values = (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS() as unknown);
    if (values.length === 1 && kindOf(values[0]) === 'config') {
      found.push({ where: file, text });
      continue;
    }
    for (const value of values) {
      if (kindOf(value) !== 'kubernetes') continue;
      const { kind, data } = value as { kind: string; data?: Record<string, string> };
      if (kind !== 'ConfigMap') continue;
      for (const [name, content] of Object.entries(data ?? {})) {
        if (/\.ya?ml$/.test(name) && kindOf(parseAllDocuments(content)[0]?.toJS()) === 'config') found.push({ where: `${file}#${name}`, text: content });
      }
    }
  }
  return found;
}

/** The ```yaml blocks of the Markdown files that are Gatehouse configs, dedented. */
function markdownConfigs(): Sample[] {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`), ...readdirSync(join(ROOT, 'examples'), { recursive: true }).map((f) => `examples/${String(f)}`)]
    .filter((f) => f.endsWith('.md'))
    .sort();
  const found: Sample[] = [];
  for (const file of files) {
    const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const open = /^( *)```ya?ml\s*$/.exec(lines[i]!);
      if (open === null) continue;
      const indent = open[1]!.length;
      const body: string[] = [];
      let j = i + 1;
      for (; j < lines.length && !/^ *```\s*$/.test(lines[j]!); j++) body.push(lines[j]!.slice(Math.min(indent, lines[j]!.length - lines[j]!.trimStart().length)));
      let text = `${body.join('\n')}\n`;
      for (const [placeholder, value] of Object.entries(PLACEHOLDERS)) text = text.replaceAll(placeholder, value);
      let kind: ReturnType<typeof kindOf> = 'config';
      try {
        kind = kindOf(parseAllDocuments(text)[0]?.toJS());
      } catch {
        // Not valid YAML: checked as a config, so that loadConfig reports where.
      }
      if (kind === 'config') found.push({ where: `${file}:${i + 1}`, text });
      i = j;
    }
  }
  return found;
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-examples-'));

/** Loads `text` with loadConfig from a file of its own (relative paths in it are never read: loading checks, it does not import). */
function load(sample: Sample) {
  const file = join(dir, `${sample.where.replace(/[^A-Za-z0-9.-]+/g, '_')}.yaml`);
  writeFileSync(file, sample.text);
  return loadConfig(file, ENV);
}

const examples = exampleConfigs();
const snippets = markdownConfigs();

describe('example configs load', () => {
  it('finds the example configs', () => {
    expect(examples.map((e) => e.where)).toEqual(
      expect.arrayContaining(['docker/gatehouse.yaml', 'examples/fleet/gatehouse.yaml', 'examples/gatehouse.yaml', 'examples/kubernetes/configmap.yaml#gatehouse.yaml']),
    );
  });

  it.each(examples.map((e) => [e.where, e] as const))('%s', (_where, sample) => {
    expect(load(sample).backends).toBeInstanceOf(Array);
  });
});

describe('config snippets of the documentation load', () => {
  it('finds the snippets: the README shows a config in ten places or more', () => {
    expect(snippets.filter((s) => s.where.startsWith('README.md:')).length).toBeGreaterThanOrEqual(10);
    for (const placeholder of Object.keys(PLACEHOLDERS)) expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain(placeholder);
  });

  it.each(snippets.map((s) => [s.where, s] as const))('%s', (_where, sample) => {
    expect(load(sample).backends).toBeInstanceOf(Array);
  });
});
