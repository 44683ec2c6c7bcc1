import { readdirSync, readFileSync } from 'node:fs';
import type { ChainableCommander, Redis } from 'ioredis';
import type { QueueKeys } from './keys.js';

/**
 * Loads the Lua scripts in ./lua once and registers them on a client with defineCommand
 * (EVALSHA, falling back to EVAL after a restart emptied the script cache).
 * A script's file name is its contract: `cancel-14.lua` is the script `cancel` with 14 keys.
 * A line `--@include name` inlines ./lua/lib/name.lua, so helpers are written once.
 */
const LUA_DIR = new URL('./lua/', import.meta.url);

export type ScriptName = 'publish' | 'reserve' | 'finish' | 'extend' | 'maintain' | 'cancel' | 'fire' | 'schedule' | 'retry' | 'fsck';

export interface ScriptSource {
  name: string;
  numberOfKeys: number;
  lua: string;
  file: string;
}

function inline(source: string): string {
  return source.replace(/^--@include (\w+)\s*$/gm, (_line, lib: string) =>
    readFileSync(new URL(`lib/${lib}.lua`, LUA_DIR), 'utf8'),
  );
}

let cache: ScriptSource[] | undefined;

export function loadScripts(): ScriptSource[] {
  if (!cache) {
    cache = readdirSync(LUA_DIR)
      .filter((f) => f.endsWith('.lua'))
      .map((file) => {
        const m = /^([a-z]+)-(\d+)\.lua$/.exec(file);
        if (!m) throw new Error(`Lua script ${file} is not named <name>-<numberOfKeys>.lua`);
        return { name: m[1]!, numberOfKeys: Number(m[2]), lua: inline(readFileSync(new URL(file, LUA_DIR), 'utf8')), file };
      });
  }
  return cache;
}

const registered = new WeakSet<Redis>();

/** Registers every script on the client (once per client). */
export function registerScripts(client: Redis): void {
  if (registered.has(client)) return;
  for (const s of loadScripts()) {
    client.defineCommand(`rt_${s.name}`, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  }
  registered.add(client);
}

type ScriptArg = string | number;
type ScriptFn = (...args: ScriptArg[]) => Promise<unknown>;

/** Runs a registered script: keys first, then arguments. */
export function runScript(client: Redis, name: ScriptName, keys: string[], args: ScriptArg[]): Promise<unknown> {
  registerScripts(client);
  const fn = (client as unknown as Record<string, ScriptFn>)[`rt_${name}`];
  if (!fn) throw new Error(`script ${name} is not loaded`);
  return fn.call(client, ...keys, ...args);
}

/** Queues a registered script on a pipeline or MULTI. */
export function pipeScript(pipe: ChainableCommander, name: ScriptName, keys: string[], args: ScriptArg[]): void {
  const fn = (pipe as unknown as Record<string, (...a: ScriptArg[]) => unknown>)[`rt_${name}`];
  if (!fn) throw new Error(`script ${name} is not loaded on this pipeline's client`);
  fn.call(pipe, ...keys, ...args);
}

/**
 * The KEYS of each script, in the order its header documents: call sites never build key
 * arrays by hand.
 */
export const scriptKeys = {
  publish: (k: QueueKeys) => [k.meta, k.wait, k.marker, k.delayed, k.data, k.config, k.prio, k.idem, k.idemexp, k.groups, k.gstate],
  // The hot path: the scripts build the keys from the queue's prefix (see finish-1.lua).
  reserve: (k: QueueKeys) => [k.prefix],
  finish: (k: QueueKeys) => [k.prefix],
  retry: (k: QueueKeys) => [k.wait, k.prio, k.data, k.dead, k.cancelled, k.marker, k.meta, k.groups, k.gstate],
  fsck: (k: QueueKeys) => [
    k.active, k.lease, k.data, k.delayed, k.completed, k.dead, k.cancelled, k.prio, k.groups, k.errors, k.gactive, k.meta,
  ],
  extend: (k: QueueKeys) => [k.active, k.lease, k.workers, k.winfo, k.cancelled],
  cancel: (k: QueueKeys) => [
    k.wait, k.prio, k.delayed, k.active, k.lease, k.progress, k.data, k.cancelled, k.meta, k.config, k.results, k.errors, k.groups, k.gactive,
  ],
  maintain: (k: QueueKeys) => [
    k.wait, k.active, k.lease, k.marker, k.delayed, k.data, k.dead, k.meta, k.errors, k.workers, k.winfo, k.config, k.progress, k.prio, k.groups, k.gstate, k.gactive,
  ],
  fire: (k: QueueKeys) => [
    k.schedules, k.schedtask, k.schedstate, k.schednext, k.meta, k.wait, k.prio, k.data, k.marker, k.config,
    k.active, k.delayed, k.completed, k.dead, k.cancelled, k.errors,
  ],
  schedule: (k: QueueKeys) => [k.schedules, k.schedtask, k.schednext],
} as const;
