import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { ChainableCommander, Cluster, Redis } from 'ioredis';
import { isCluster } from './redis.js';
import type { QueueKeys } from './keys.js';

/**
 * Loads the Lua scripts in ./lua once and registers them on a client with defineCommand
 * (EVALSHA, falling back to EVAL after a restart emptied the script cache).
 * A script's file name is its contract: `cancel-14.lua` is the script `cancel` with 14 keys.
 * A line `--@include name` inlines ./lua/lib/name.lua, so helpers are written once. An include
 * file may include others (at its top, before it uses them); each file goes into a script once,
 * where it is first included, after the files it includes.
 */
const LUA_DIR = new URL('./lua/', import.meta.url);

export type ScriptName = 'publish' | 'reserve' | 'finish' | 'extend' | 'maintain' | 'cancel' | 'fire' | 'schedule' | 'retry' | 'fsck' | 'remove' | 'repair';

export interface ScriptSource {
  name: string;
  numberOfKeys: number;
  lua: string;
  file: string;
}

const INCLUDE = /^--@include (\w+)[ \t]*$/gm;

function readLib(lib: string): string {
  try {
    return readFileSync(new URL(`lib/${lib}.lua`, LUA_DIR), 'utf8');
  } catch (err) {
    throw new Error(`Lua include ${lib}: no file lib/${lib}.lua`, { cause: err });
  }
}

/** An include file with the files it includes inlined, or "" when `seen` has it already. */
function expand(lib: string, seen: Set<string>): string {
  if (seen.has(lib)) return '';
  seen.add(lib);
  return inline(readLib(lib), seen);
}

/** The source with its includes inlined, each file once (`seen` holds those already inlined). */
function inline(source: string, seen = new Set<string>()): string {
  return source.replace(INCLUDE, (_line, lib: string) => expand(lib, seen));
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

/**
 * The scripts of the task path (`reserve` and `finish`) also run as Redis Functions, from one
 * library that holds them and the helpers they share. A Function's helpers are made once, when
 * the library loads, where an EVAL makes every helper closure again on every call; and a
 * Function can keep the key names of a queue between calls (see rt_keys). With one task per
 * call that saves a good part of Redis's work per call (measured in docs/BENCHMARKS.md). The library's name and its Functions'
 * names carry a hash of their source, so that workers of different versions sharing a Redis each
 * call their own.
 */
export interface FunctionLibrary {
  name: string;
  code: string;
  /** Script name -> the name of the Function that runs it. */
  functions: Partial<Record<ScriptName, string>>;
}

const FUNCTION_SCRIPTS: readonly ScriptName[] = ['finish', 'reserve'];
let library: FunctionLibrary | undefined;

export function functionLibrary(): FunctionLibrary {
  if (!library) {
    const sources = loadScripts();
    // The helpers the bodies include (and the files those include) go into the library once,
    // before the bodies, so the bodies lose their includes.
    const seen = new Set<string>();
    const helpers: string[] = [];
    const bodies = FUNCTION_SCRIPTS.map((name) => {
      const file = sources.find((s) => s.name === name)!.file;
      const body = readFileSync(new URL(file, LUA_DIR), 'utf8').replace(INCLUDE, (_line, lib: string) => {
        helpers.push(expand(lib, seen));
        return '';
      });
      return { name, body };
    });
    const libs = helpers.filter((h) => h !== '').join('\n');
    // The names carry a hash of the whole library as loaded (helpers, bodies and wrappers).
    let code = `#!lua name=redtask_@HASH@\n${libs}\n`;
    for (const b of bodies) {
      code += `local function rt_fn_${b.name}(KEYS, ARGV)\n${b.body}\nend\nredis.register_function('rt_${b.name}_@HASH@', rt_fn_${b.name})\n`;
    }
    const hash = createHash('sha1').update(code).digest('hex').slice(0, 12);
    code = code.replaceAll('@HASH@', hash);
    const name = `redtask_${hash}`;
    const functions: Partial<Record<ScriptName, string>> = {};
    for (const b of bodies) functions[b.name] = `rt_${b.name}_${hash}`;
    library = { name, code, functions };
  }
  return library;
}

/** Clients on which Functions cannot be used (Redis before 7.0, or an ACL that forbids them). */
const withoutFunctions = new WeakSet<Redis>();

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Redis refused the call before running it because Functions are not there for this client. */
const NO_FUNCTIONS = /^(NOPERM|ERR unknown command)/;
/** Redis has not (or no longer) loaded the library: load it and call again. */
const FUNCTION_NOT_FOUND = /^ERR Function not found/;

function callFunction(client: Redis, name: ScriptName, fn: string, keys: string[], args: ScriptArg[]): Promise<unknown> {
  // The common case is one FCALL and its promise, without an async wrapper around it.
  return client.fcall(fn, keys.length, ...keys, ...args).catch((err: unknown) => onFunctionError(client, name, fn, keys, args, err));
}

/**
 * A call refused before it ran: the library is missing (load it and call again), or Functions
 * are not available to this client (run the script with EVALSHA from now on). Any other error,
 * including one raised while the function ran, is the caller's.
 */
async function onFunctionError(client: Redis, name: ScriptName, fn: string, keys: string[], args: ScriptArg[], err: unknown): Promise<unknown> {
  if (NO_FUNCTIONS.test(message(err))) {
    withoutFunctions.add(client);
    return runScript(client, name, keys, args);
  }
  if (!FUNCTION_NOT_FOUND.test(message(err))) throw err;
  try {
    await loadLibrary(client);
  } catch (loadErr) {
    if (!NO_FUNCTIONS.test(message(loadErr))) throw loadErr;
    withoutFunctions.add(client);
    return runScript(client, name, keys, args);
  }
  return client.fcall(fn, keys.length, ...keys, ...args);
}

/** Loads the Function library: on the server, or on every master of a Redis Cluster (a Function runs where its keys' slot is). */
async function loadLibrary(client: Redis): Promise<void> {
  const code = functionLibrary().code;
  if (!isCluster(client)) {
    await client.function('LOAD', 'REPLACE', code);
    return;
  }
  await Promise.all((client as unknown as Cluster).nodes('master').map((node) => node.function('LOAD', 'REPLACE', code)));
}

/** Runs a script: keys first, then arguments (see callFunction for the task path's two). */
export function runScript(client: Redis, name: ScriptName, keys: string[], args: ScriptArg[]): Promise<unknown> {
  const fn = functionLibrary().functions[name];
  if (fn && !withoutFunctions.has(client)) return callFunction(client, name, fn, keys, args);
  registerScripts(client);
  const script = (client as unknown as Record<string, ScriptFn>)[`rt_${name}`];
  if (!script) throw new Error(`script ${name} is not loaded`);
  return script.call(client, ...keys, ...args);
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
  remove: (k: QueueKeys) => [k.wait, k.prio, k.groups, k.delayed, k.completed, k.dead, k.cancelled, k.data, k.results, k.errors, k.active],
  cancel: (k: QueueKeys) => [
    k.wait, k.prio, k.delayed, k.active, k.lease, k.progress, k.data, k.cancelled, k.meta, k.config, k.results, k.errors, k.groups, k.gactive,
  ],
  maintain: (k: QueueKeys) => [
    k.wait, k.active, k.lease, k.marker, k.delayed, k.data, k.dead, k.meta, k.errors, k.workers, k.winfo, k.config, k.progress, k.prio, k.groups, k.gstate, k.gactive,
  ],
  fire: (k: QueueKeys) => [
    k.schedules, k.schedtask, k.schedstate, k.schednext, k.meta, k.wait, k.prio, k.data, k.marker, k.config,
    k.active, k.delayed, k.completed, k.dead, k.cancelled, k.errors, k.groups,
  ],
  schedule: (k: QueueKeys) => [k.schedules, k.schedtask, k.schednext],
} as const;
