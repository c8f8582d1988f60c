/**
 * Reloads the runtime when its configuration file changes (`gatehouse serve`).
 *
 * The file's directory is watched, not the file: editors that save by writing a
 * new file and renaming it over the old one (vim, most IDEs) and Kubernetes
 * ConfigMap volumes (an atomic swap of the `..data` symlink) replace the inode a
 * file watch would be attached to. Events are debounced (editors write in
 * bursts), and a reload runs only when the file's bytes actually changed.
 *
 * Only the config file is watched: a spec file edited alone is picked up by the
 * next reload (SIGHUP, or any change to the config file).
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../log/logger.js';
import type { ReloadResult } from './backend-set.js';

export interface ConfigWatch {
  /** Resolves once the file's current bytes are known: a change written after it is a change. */
  ready: Promise<void>;
  close(): void;
}

export interface ConfigWatchOptions {
  /** Quiet time after the last event before the file is read (default 200 ms). */
  debounceMs?: number;
  /** Told about every reload the watch started (tests, logs). */
  onReload?: (result: ReloadResult) => void;
}

export function startConfigWatch(runtime: { reload: () => Promise<ReloadResult> }, file: string, log: Logger, options: ConfigWatchOptions = {}): ConfigWatch {
  const path = resolve(file);
  const name = basename(path);
  const debounceMs = options.debounceMs ?? 200;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  // The bytes last applied; undefined until read (the first change always reloads).
  let lastHash: string | undefined;
  const hashOf = async (): Promise<string | undefined> => {
    try {
      return createHash('sha256').update(await readFile(path)).digest('hex');
    } catch {
      return undefined; // mid-replace or removed: a later event brings it back
    }
  };
  const ready = hashOf().then((h) => {
    lastHash ??= h;
  });

  const check = async (): Promise<void> => {
    const hash = await hashOf();
    if (closed || hash === undefined || hash === lastHash) return;
    lastHash = hash;
    log.info({ file: path }, `config file changed: reloading ${path}`);
    const result = await runtime.reload();
    options.onReload?.(result);
  };

  let watcher: FSWatcher;
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
      // `changed` may be null (some platforms); `..data` is a ConfigMap swap.
      if (changed !== null && changed !== name && !changed.startsWith('..')) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        check().catch((err: unknown) => log.error({ err }, 'config reload failed unexpectedly'));
      }, debounceMs);
    });
  } catch (err) {
    log.warn({ err, file: path }, `cannot watch ${path}: reload with SIGHUP instead`);
    return { ready, close() {} };
  }
  watcher.on('error', (err) => log.warn({ err, file: path }, `config watch stopped: reload with SIGHUP instead`));
  return {
    ready,
    close() {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}
