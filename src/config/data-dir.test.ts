import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from './load-config.js';

const FILE = '/etc/gatehouse/gatehouse.yaml';
const dataDirOf = (yaml: string, env: NodeJS.ProcessEnv) => {
  const c = parseConfig(yaml, FILE, env);
  return resolve(c.baseDir, c.dataDir);
};

describe('dataDir default', () => {
  it('is ./data beside the config file, or $GATEHOUSE_DATA_DIR when set; a dataDir in the file wins', () => {
    expect(dataDirOf('backends: []\n', {})).toBe('/etc/gatehouse/data');
    expect(dataDirOf('backends: []\n', { GATEHOUSE_DATA_DIR: '' })).toBe('/etc/gatehouse/data');
    expect(dataDirOf('backends: []\n', { GATEHOUSE_DATA_DIR: '/var/lib/gatehouse' })).toBe('/var/lib/gatehouse');
    expect(dataDirOf('dataDir: ./state\nbackends: []\n', { GATEHOUSE_DATA_DIR: '/var/lib/gatehouse' })).toBe('/etc/gatehouse/state');
  });
});
