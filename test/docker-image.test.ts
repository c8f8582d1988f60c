import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../src/config/load-config.js';
import { spawnGateway, writeConfigFile } from './helpers/spawn-gateway.js';

/**
 * The container image keeps its state (a config that names no dataDir) in a
 * declared volume the runtime user owns, and the README's `docker run` mounts
 * a named volume there. There is no Docker engine to run the image in tests:
 * the Dockerfile and the README are read, and what they promise is checked
 * against the config loader and a real gateway process.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The runtime stage's instructions, continuation lines joined: [INSTRUCTION, rest]. */
function runtimeStage(): Array<[string, string]> {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const from = lines.findLastIndex((l) => /^FROM\s/i.test(l));
  return lines.slice(from).map((l) => {
    const [, op, rest] = /^(\S+)\s+(.*)$/.exec(l)!;
    return [op!.toUpperCase(), rest!.replace(/\s+/g, ' ')];
  });
}

function envOf(stage: Array<[string, string]>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [op, rest] of stage) if (op === 'ENV') for (const m of rest.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)) env[m[1]!] = m[2]!;
  return env;
}

/** The README's `docker run` commands in its Deploying section, continuation lines joined. */
function readmeDockerRuns(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Deploying');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  return section.replace(/\\\n\s*/g, ' ').split('\n').filter((l) => l.startsWith('docker run '));
}

describe('the container image keeps its state', () => {
  const stage = runtimeStage();
  const dataDir = envOf(stage).GATEHOUSE_DATA_DIR;

  it('sets GATEHOUSE_DATA_DIR to a declared VOLUME that the runtime user owns', () => {
    expect(dataDir, 'ENV GATEHOUSE_DATA_DIR in the runtime stage').toMatch(/^\//);
    const volumes = stage.filter(([op]) => op === 'VOLUME').flatMap(([, rest]) => (rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(' ')));
    expect(volumes).toContain(dataDir);
    const user = stage.findLastIndex(([op]) => op === 'USER');
    expect(stage[user]?.[1]).toBe('node');
    const chown = stage.findIndex(([op, rest]) => op === 'RUN' && new RegExp(`chown (-R )?node:node ${dataDir}(\\s|$)`).test(rest));
    expect(chown, `a RUN that chowns ${dataDir} to node`).toBeGreaterThanOrEqual(0);
    expect(chown).toBeLessThan(user);
  });

  it("the image's own config keeps its state there too", () => {
    const config = parseYaml(readFileSync(join(ROOT, 'docker/gatehouse.yaml'), 'utf8')) as { dataDir?: string };
    expect(config.dataDir ?? dataDir).toBe(dataDir);
  });

  it("the README's docker run mounts one gatehouse.yaml and a named volume on the data directory", () => {
    const runs = readmeDockerRuns();
    expect(runs.length).toBeGreaterThan(0);
    for (const run of runs) {
      expect(run).toMatch(/-v "?\$PWD\/gatehouse\.yaml:\/etc\/gatehouse\/gatehouse\.yaml:ro"?/);
      const volume = new RegExp(`-v ([A-Za-z0-9][A-Za-z0-9_.-]*):${dataDir}(\\s|$)`).exec(run);
      expect(volume, `${run}: mounts a named volume on ${dataDir}`).not.toBeNull();
    }
  });

  it('a config mounted on its own (no dataDir) resolves its state into the volume, not beside itself', () => {
    const config = parseConfig('server: { host: 0.0.0.0 }\nadmin: {}\nbackends: []\nauth: { allowUnauthenticatedPublic: true }\n', '/etc/gatehouse/gatehouse.yaml', envOf(stage));
    expect(resolve(config.baseDir, config.dataDir)).toBe(dataDir);
  });

  it('a gateway run with the variable set opens its audit store and admin registry there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-image-'));
    const state = mkdtempSync(join(tmpdir(), 'gatehouse-image-state-'));
    const file = writeConfigFile(dir, 'gatehouse.yaml', 'server: { port: 0 }\nlog: { level: info }\nadmin: {}\nbackends: []\n');
    const g = await spawnGateway(file, { env: { GATEHOUSE_DATA_DIR: state } });
    try {
      expect((await fetch(`${g.url}/admin/backends`)).status).toBe(200);
      expect(existsSync(join(state, 'audit.db'))).toBe(true);
      expect(existsSync(join(state, 'registry.db'))).toBe(true);
      expect(existsSync(join(dir, 'data'))).toBe(false);
    } finally {
      await g.stop();
    }
  });
});
