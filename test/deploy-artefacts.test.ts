import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig, parseConfig } from '../src/config/load-config.js';
import type { GatehouseConfig } from '../src/config/schema.js';
import { silentLogger } from '../src/log/logger.js';
import { loadBackends } from '../src/registry/load-backends.js';

/**
 * The deployment examples (examples/docker-compose.yaml, examples/fleet/,
 * examples/kubernetes/) cannot be run here (no Docker, no cluster): these checks
 * keep them parseable, consistent with each other and with the gateway's own
 * config validation, and hold the invariants a fleet depends on.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLES = join(ROOT, 'examples');
const K8S = join(EXAMPLES, 'kubernetes');
const COMPOSE = join(EXAMPLES, 'docker-compose.yaml');
const FLEET_CONFIG = join(EXAMPLES, 'fleet', 'gatehouse.yaml');
const DEMO_SPEC = join(EXAMPLES, 'demo-backend', 'openapi.yaml');

type Env = Record<string, string>;

interface Probe {
  httpGet?: { path?: string; port?: number | string };
  exec?: { command?: string[] };
  periodSeconds?: number;
  failureThreshold?: number;
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[] };
}
interface Container {
  name: string;
  image?: string;
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: Array<{ name: string; value?: string }>;
  envFrom?: Array<{ secretRef?: { name: string } }>;
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: Probe };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface Volume {
  name: string;
  emptyDir?: object;
  configMap?: { name: string };
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    replicas?: number;
    type?: string;
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    ports?: Array<{ port: number; targetPort?: number | string }>;
    template?: {
      metadata: { labels: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds?: number;
        securityContext?: SecurityContext;
        containers: Container[];
        volumes?: Volume[];
      };
    };
    scaleTargetRef?: { apiVersion: string; kind: string; name: string };
    minReplicas?: number;
    maxReplicas?: number;
    metrics?: Array<{ type: string; resource?: { name: string; target: { type: string } } }>;
    minAvailable?: number | string;
  };
}
interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  environment?: Env;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
}
interface Compose {
  services: Record<string, ComposeService>;
}

/** Every document of a YAML file, as JS; fails the test on any parse error or warning. */
function readYaml(file: string): unknown[] {
  // Docker Compose honours YAML merge keys (`<<: *gateway`).
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true });
  const problems = docs.flatMap((d) => [...d.errors, ...d.warnings].map((e) => `${file}: ${e.message}`));
  expect(problems).toEqual([]);
  return docs.map((d) => d.toJS() as unknown).filter((d) => d !== null);
}

const k8sFiles = readdirSync(K8S).filter((f) => f.endsWith('.yaml'));
const k8sObjects: Array<K8sObject & { file: string }> = k8sFiles
  .filter((f) => f !== 'kustomization.yaml')
  .flatMap((f) => readYaml(join(K8S, f)).map((o) => ({ ...(o as K8sObject), file: f })));

function find(kind: string, file?: string): K8sObject {
  const found = k8sObjects.filter((o) => o.kind === kind && (file === undefined || o.file === file));
  expect(found, `exactly one ${kind}${file ? ` in ${file}` : ''}`).toHaveLength(1);
  return found[0]!;
}

const deployment = () => find('Deployment', 'deployment.yaml');
const gatewayContainer = (): Container => {
  const containers = deployment().spec!.template!.spec.containers;
  expect(containers).toHaveLength(1);
  return containers[0]!;
};
const secretEnv = (): Env => find('Secret', 'secret.yaml').stringData ?? {};
const configMap = () => find('ConfigMap', 'configmap.yaml');

/** The container port a probe or Service targetPort names (by name or number). */
function containerPort(c: Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return c.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

/** Imports every backend of a config; returns the names that failed. */
async function failedBackends(config: GatehouseConfig): Promise<string[]> {
  const registry = await loadBackends(config.backends, config.baseDir, silentLogger());
  expect(registry.backends).toHaveLength(config.backends.length);
  return registry.backends.filter((b) => b.state !== 'ready').map((b) => b.name);
}

/** Writes a ConfigMap's data to a directory, as its volume mount would. */
function materialise(data: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-configmap-'));
  for (const [key, value] of Object.entries(data)) writeFileSync(join(dir, key), value);
  return dir;
}

describe('every deployment YAML file', () => {
  it('parses without errors', () => {
    expect(k8sFiles.length).toBeGreaterThanOrEqual(8);
    for (const f of [...k8sFiles.map((f) => join(K8S, f)), COMPOSE, FLEET_CONFIG]) expect(readYaml(f).length).toBeGreaterThan(0);
  });

  it('holds Kubernetes objects with apiVersion, kind and a name', () => {
    for (const o of k8sObjects) {
      expect(o.apiVersion, o.file).toMatch(/^[a-z0-9.]*\/?v\d+(beta\d+)?$/);
      expect(o.kind, o.file).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(o.metadata.name, o.file).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
    }
  });
});

describe('examples/kubernetes', () => {
  it('kustomization.yaml lists every gateway manifest, and not the throwaway Redis/PostgreSQL', () => {
    const [k] = readYaml(join(K8S, 'kustomization.yaml')) as Array<{ resources: string[]; namespace?: string }>;
    const expected = ['namespace.yaml', 'configmap.yaml', 'secret.yaml', 'deployment.yaml', 'service.yaml', 'hpa.yaml', 'pdb.yaml'];
    expect([...k!.resources].sort()).toEqual([...expected].sort());
    for (const f of k!.resources) expect(k8sFiles).toContain(f);
    expect(k!.resources).not.toContain('redis.yaml');
    expect(k!.resources).not.toContain('postgres.yaml');
    expect(k!.namespace).toBe(find('Namespace').metadata.name);
  });

  it('the Deployment runs 2 replicas of the image as the non-root node user with a read-only root', () => {
    const d = deployment();
    expect(d.apiVersion).toBe('apps/v1');
    expect(d.spec!.replicas).toBe(2);
    const pod = d.spec!.template!.spec;
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.runAsUser).toBe(1000);
    const c = gatewayContainer();
    expect(c.image).toMatch(/^gatehouse:/);
    expect(c.securityContext?.runAsNonRoot).toBe(true);
    expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext?.capabilities?.drop).toContain('ALL');
    // The selector picks the pod template's labels.
    for (const [k, v] of Object.entries(d.spec!.selector!.matchLabels!)) expect(d.spec!.template!.metadata.labels[k]).toBe(v);
  });

  it('probes /healthz (startup, liveness) and /readyz (readiness) on the port the gateway binds', () => {
    const c = gatewayContainer();
    const port = c.env?.find((e) => e.name === 'GATEHOUSE_PORT')?.value;
    expect(port).toBe('8080');
    const probes = { startupProbe: '/healthz', livenessProbe: '/healthz', readinessProbe: '/readyz' } as const;
    for (const [name, path] of Object.entries(probes)) {
      const probe = c[name as keyof typeof probes];
      expect(probe?.httpGet?.path, name).toBe(path);
      expect(containerPort(c, probe?.httpGet?.port), name).toBe(Number(port));
    }
  });

  it('gives SIGTERM time to drain calls (10 s) and flush the audit queue (5 s) after the preStop sleep', () => {
    const pod = deployment().spec!.template!.spec;
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    expect(grace).toBeGreaterThan(15);
    const sleep = gatewayContainer().lifecycle?.preStop?.exec?.command;
    expect(sleep?.[0]).toBe('sleep');
    const sleepSeconds = Number(sleep?.[1]);
    expect(sleepSeconds).toBeGreaterThan(0);
    expect(grace).toBeGreaterThanOrEqual(sleepSeconds + 10 + 5);
  });

  it('sets resource requests and limits', () => {
    const r = gatewayContainer().resources;
    expect(r?.requests?.cpu).toBeDefined();
    expect(r?.requests?.memory).toBeDefined();
    expect(r?.limits?.memory).toBeDefined();
  });

  it('mounts the ConfigMap at /etc/gatehouse and emptyDirs at /var/lib/gatehouse and /tmp', () => {
    const pod = deployment().spec!.template!.spec;
    const c = gatewayContainer();
    const volumeAt = (path: string) => {
      const mount = c.volumeMounts?.find((m) => m.mountPath === path);
      expect(mount, path).toBeDefined();
      return { mount: mount!, volume: pod.volumes?.find((v) => v.name === mount!.name) };
    };
    const config = volumeAt('/etc/gatehouse');
    expect(config.mount.readOnly).toBe(true);
    expect(config.volume?.configMap?.name).toBe(configMap().metadata.name);
    for (const path of ['/var/lib/gatehouse', '/tmp']) expect(volumeAt(path).volume?.emptyDir, path).toBeDefined();
    // The config file the container is told to load is a key of the ConfigMap.
    const args = c.args ?? [];
    const file = args[args.indexOf('--config') + 1]!;
    expect(posix.dirname(file)).toBe('/etc/gatehouse');
    expect(Object.keys(configMap().data ?? {})).toContain(posix.basename(file));
    // The config's dataDir is the writable emptyDir.
    const parsed = parseConfig(configMap().data![posix.basename(file)]!, file, secretEnv());
    expect(parsed.dataDir).toBe('/var/lib/gatehouse');
  });

  it('takes its environment from the Secret, which provides every variable the config needs', () => {
    const secretName = find('Secret', 'secret.yaml').metadata.name;
    expect(gatewayContainer().envFrom?.map((e) => e.secretRef?.name)).toContain(secretName);
    // Only the Secret's values (no process.env): a ${VAR} without a default would throw.
    const config = parseConfig(configMap().data!['gatehouse.yaml']!, '/etc/gatehouse/gatehouse.yaml', secretEnv());
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.server.port).toBe(8080);
    expect(config.rateLimits.store).toBe('redis');
    expect(config.rateLimits.rules.length).toBeGreaterThan(0);
    expect(config.redis?.url).toBe(secretEnv()['GATEHOUSE_REDIS_URL']);
    expect(config.audit.store).toBe('postgres');
    expect(config.audit.postgres?.url).toBe(secretEnv()['GATEHOUSE_POSTGRES_URL']);
    expect(config.auth?.apiKeys?.[0]?.sha256).toBe(secretEnv()['GATEHOUSE_API_KEY_SHA256']);
  });

  it("the ConfigMap's backend specs load, and its inventory spec is the demo backend's", async () => {
    const data = configMap().data!;
    expect(data['inventory.openapi.yaml']).toBe(readFileSync(DEMO_SPEC, 'utf8'));
    const config = loadConfig(join(materialise(data), 'gatehouse.yaml'), secretEnv());
    expect(config.backends.length).toBeGreaterThan(0);
    expect(await failedBackends(config)).toEqual([]);
  });

  it('the Service, HPA and PDB point at the gateway pods', () => {
    const labels = deployment().spec!.template!.metadata.labels;
    const selects = (selector: Record<string, string> | undefined) => {
      expect(selector).toBeDefined();
      for (const [k, v] of Object.entries(selector!)) expect(labels[k]).toBe(v);
    };
    const svc = find('Service', 'service.yaml');
    expect(svc.spec!.type ?? 'ClusterIP').toBe('ClusterIP');
    expect(svc.spec!.ports?.[0]?.port).toBe(8080);
    expect(containerPort(gatewayContainer(), svc.spec!.ports?.[0]?.targetPort)).toBe(8080);
    selects(svc.spec!.selector as Record<string, string>);

    const hpa = find('HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec!.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment().metadata.name });
    expect(hpa.spec!.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec!.maxReplicas).toBeGreaterThanOrEqual(hpa.spec!.minReplicas!);
    expect(hpa.spec!.metrics?.some((m) => m.type === 'Resource' && m.resource?.name === 'cpu' && m.resource.target.type === 'Utilization')).toBe(true);

    const pdb = find('PodDisruptionBudget');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec!.minAvailable).toBe(1);
    selects(pdb.spec!.selector?.matchLabels);
  });

  it('the throwaway redis.yaml / postgres.yaml are marked as such and match the Secret', () => {
    for (const f of ['redis.yaml', 'postgres.yaml']) expect(readFileSync(join(K8S, f), 'utf8')).toMatch(/^# NOT FOR PRODUCTION/);
    const env = secretEnv();
    const redisPassword = find('Secret', 'redis.yaml').stringData!['password']!;
    const pgPassword = find('Secret', 'postgres.yaml').stringData!['password']!;
    const redisUrl = new URL(env['GATEHOUSE_REDIS_URL']!);
    const pgUrl = new URL(env['GATEHOUSE_POSTGRES_URL']!);
    expect(decodeURIComponent(redisUrl.password)).toBe(redisPassword);
    expect(decodeURIComponent(pgUrl.password)).toBe(pgPassword);
    // The URLs name the Services those files define.
    expect(redisUrl.hostname).toBe(find('Service', 'redis.yaml').metadata.name);
    expect(pgUrl.hostname).toBe(find('Service', 'postgres.yaml').metadata.name);
    expect(find('Secret', 'secret.yaml').stringData!['GATEHOUSE_API_KEY_SHA256']).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(join(K8S, 'secret.yaml'), 'utf8')).toMatch(/PLACEHOLDER/);
  });
});

describe('examples/docker-compose.yaml', () => {
  const compose = readYaml(COMPOSE)[0] as Compose;
  const gateways = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);
  const composeText = readFileSync(COMPOSE, 'utf8');
  /** Compose's `${VAR:?msg}` / `${VAR:-default}` replaced as compose would, with placeholders for required ones. */
  const interpolate = (s: string) =>
    s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([?-])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) =>
      op === '-' ? arg! : name.endsWith('SHA256') ? 'a'.repeat(64) : `placeholder-${name.toLowerCase()}`,
    );

  it('runs two gateways from the repository Dockerfile on different host ports', () => {
    expect(gateways.map(([name]) => name).sort()).toEqual(['gateway-1', 'gateway-2']);
    const hostPorts = gateways.map(([, s]) => {
      expect(s.image).toBe('gatehouse:latest');
      expect(resolve(EXAMPLES, s.build!.context, s.build!.dockerfile ?? 'Dockerfile')).toBe(join(ROOT, 'Dockerfile'));
      expect(s.ports).toHaveLength(1);
      const [published, target] = [interpolate(s.ports![0]!).split(':').at(-2), s.ports![0]!.split(':').at(-1)];
      expect(target).toBe('8080');
      return published;
    });
    expect(new Set(hostPorts).size).toBe(2);
  });

  it('starts the gateways after Redis and PostgreSQL are healthy, and checks them all', () => {
    for (const [name, s] of gateways) {
      expect(s.depends_on?.['redis']?.condition, name).toBe('service_healthy');
      expect(s.depends_on?.['postgres']?.condition, name).toBe('service_healthy');
      expect(s.healthcheck?.test.join(' '), name).toContain('/healthz');
      // Docker's default stop timeout (10 s) would kill the gateway before the audit flush.
      expect(Number.parseInt(s.stop_grace_period ?? '10s', 10), name).toBeGreaterThan(15);
    }
    expect(compose.services['redis']?.image).toMatch(/^redis:7/);
    expect(compose.services['redis']?.healthcheck?.test.join(' ')).toContain('redis-cli ping');
    expect(compose.services['postgres']?.image).toMatch(/^postgres:16/);
    expect(compose.services['postgres']?.healthcheck?.test.join(' ')).toContain('pg_isready');
    expect(compose.services['demo-backend']?.healthcheck?.test.join(' ')).toContain('/health');
  });

  it('documents every required variable at the top of the file', () => {
    const required = new Set([...composeText.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*):\?/g)].map((m) => m[1]!));
    expect(required.size).toBeGreaterThan(0);
    const header = composeText.split('\n').filter((l) => l.startsWith('#')).join('\n');
    for (const name of required) expect(header, name).toContain(name);
  });

  it("gives the gateways every variable examples/fleet/gatehouse.yaml needs, and mounts its spec where the config looks", async () => {
    for (const [name, s] of gateways) {
      const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));
      // Only the service's environment (no process.env): a missing ${VAR} would throw.
      const config = parseConfig(readFileSync(FLEET_CONFIG, 'utf8'), '/etc/gatehouse/gatehouse.yaml', env);
      expect(config.server.host, name).toBe('0.0.0.0');
      expect(config.rateLimits.store, name).toBe('redis');
      expect(config.redis?.url, name).toMatch(/^redis:\/\/:placeholder-redis_password@redis:6379$/);
      expect(config.audit.store, name).toBe('postgres');
      expect(new URL(config.audit.postgres!.url).hostname, name).toBe('postgres');
      expect(config.auth?.apiKeys?.length, name).toBeGreaterThan(0);
      expect(new URL(config.backends[0]!.baseUrl!).hostname, name).toBe('demo-backend');

      // Rebuild the container's filesystem from the bind mounts and load the config there.
      const fsRoot = mkdtempSync(join(tmpdir(), 'gatehouse-compose-'));
      for (const volume of s.volumes ?? []) {
        const [source, target] = volume.split(':') as [string, string];
        if (!source.startsWith('.')) continue;
        const from = resolve(EXAMPLES, source);
        const files = from.endsWith('.yaml') ? [[from, join(fsRoot, target)]] : readdirSync(from).map((f) => [join(from, f), join(fsRoot, target, f)]);
        for (const [src, dst] of files) {
          mkdirSync(dirname(dst!), { recursive: true });
          writeFileSync(dst!, readFileSync(src!));
        }
      }
      const inContainer = loadConfig(join(fsRoot, 'etc/gatehouse/gatehouse.yaml'), env);
      expect(await failedBackends(inContainer), name).toEqual([]);
    }
  });
});

describe('examples/fleet/gatehouse.yaml', () => {
  it('passes the gateway validator and its backends load from the repository', async () => {
    const env = { GATEHOUSE_API_KEY_SHA256: 'b'.repeat(64), GATEHOUSE_REDIS_URL: 'redis://redis:6379', GATEHOUSE_POSTGRES_URL: 'postgres://u:p@db:5432/g' };
    const config = loadConfig(FLEET_CONFIG, env);
    expect(await failedBackends(config)).toEqual([]);
    expect(() => loadConfig(FLEET_CONFIG, { ...env, GATEHOUSE_REDIS_URL: '' })).toThrow(/GATEHOUSE_REDIS_URL/);
  });
});
