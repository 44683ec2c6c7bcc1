import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { QueueFullError, scriptError, SCRIPT_ERRORS, UsageError } from '../../src/shared/errors.js';
import { functionLibrary, loadScripts } from '../../src/shared/scripts.js';

const LUA_DIR = new URL('../../src/shared/lua/', import.meta.url);
const files = readdirSync(LUA_DIR).filter((f) => f.endsWith('.lua'));
const libs = readdirSync(new URL('lib/', LUA_DIR)).filter((f) => f.endsWith('.lua')).map((f) => f.slice(0, -4));

function readLib(lib: string): string {
  return readFileSync(new URL(`lib/${lib}.lua`, LUA_DIR), 'utf8');
}

/** The names a file includes, in order. */
function includesOf(source: string): string[] {
  return [...source.matchAll(/^--@include (\w+)/gm)].map((m) => m[1]!);
}

/** The names an include file says it provides (its "-- Provides: a, b." line). */
function provides(lib: string): string[] {
  const m = /^-- Provides: ([^\n]*)\.$/m.exec(readLib(lib));
  return m ? m[1]!.split(',').map((n) => n.trim()) : [];
}

/** Lua code without its comments (and, with `strings`, without its string literals). */
function code(source: string, strings = false): string {
  const c = source.replace(/--\[\[[\s\S]*?\]\]/g, '').replace(/--[^\n]*/g, '');
  return strings ? c.replace(/'(?:[^'\\\n]|\\.)*'/g, "''") : c;
}

/** The helper names (rt_*, RT_*) a file uses and those it defines at its top level. */
function helperNames(source: string): { used: Set<string>; defined: Set<string> } {
  const c = code(source, true);
  const used = new Set([...c.matchAll(/\b(?:rt|RT)_\w+/g)].map((m) => m[0]));
  const defined = new Set<string>();
  for (const m of c.matchAll(/^local (?:function )?([\w, ]+?)\s*(?:=|\()/gm)) for (const n of m[1]!.split(',')) defined.add(n.trim());
  return { used, defined };
}

/** The leading --[[ ... ]] block comment of a script, and the code after it. */
function split(source: string): { header: string; code: string } {
  const m = /^--\[\[([\s\S]*?)\]\]/.exec(source);
  return { header: m?.[1] ?? '', code: m ? source.slice(m[0].length) : source };
}

function indices(text: string, what: 'KEYS' | 'ARGV'): number[] {
  return [...text.matchAll(new RegExp(`${what}\\[(\\d+)\\]`, 'g'))].map((m) => Number(m[1]));
}

describe('Lua scripts', () => {
  it('exist: publish, reserve, finish, extend, maintain and cancel, each once', () => {
    const names = files.map((f) => f.replace(/-\d+\.lua$/, '')).sort();
    expect(names).toEqual(expect.arrayContaining(['cancel', 'extend', 'finish', 'maintain', 'publish', 'reserve']));
    expect(new Set(names).size).toBe(names.length);
  });

  describe.each(files)('%s', (file) => {
    const m = /^([a-z]+)-(\d+)\.lua$/.exec(file);
    const raw = readFileSync(new URL(file, LUA_DIR), 'utf8');
    const loaded = loadScripts().find((s) => s.file === file);

    it('is named <name>-<numberOfKeys>.lua', () => {
      expect(m).not.toBeNull();
      expect(loaded?.numberOfKeys).toBe(Number(m![2]));
    });

    it('uses exactly KEYS[1] .. KEYS[N] where N is in its name (libraries included)', () => {
      const n = Number(m![2]);
      const { code } = split(loaded!.lua);
      const used = new Set(indices(code, 'KEYS'));
      expect(Math.max(0, ...used)).toBe(n);
      for (let i = 1; i <= n; i++) expect(used.has(i), `KEYS[${i}] unused`).toBe(true);
    });

    it('documents every key and every fixed argument in its header comment', () => {
      const n = Number(m![2]);
      const { header, code } = split(raw);
      expect(header.trim().length).toBeGreaterThan(0);
      expect(header).toMatch(new RegExp(`^\\s*${m![1]}:`));
      const documentedKeys = new Set(indices(header, 'KEYS'));
      for (let i = 1; i <= n; i++) expect(documentedKeys.has(i), `KEYS[${i}] undocumented`).toBe(true);
      expect(Math.max(0, ...documentedKeys)).toBe(n);
      const documentedArgs = new Set(indices(header, 'ARGV'));
      expect(documentedArgs.has(1)).toBe(true);
      for (const i of indices(code, 'ARGV')) expect(documentedArgs.has(i), `ARGV[${i}] undocumented`).toBe(true);
      expect(header).toMatch(/Returns/);
    });

    it('inlines every include, and the files those include, each once', () => {
      expect(loaded!.lua).not.toMatch(/^--@include/m);
      const all = new Set<string>();
      const visit = (lib: string) => {
        if (all.has(lib)) return;
        all.add(lib);
        includesOf(readLib(lib)).forEach(visit);
      };
      includesOf(raw).forEach(visit);
      for (const lib of all) {
        for (const part of readLib(lib).split(/^--@include \w+\n/m)) expect(loaded!.lua).toContain(part);
        const header = readLib(lib).split('\n')[0]!;
        expect(loaded!.lua.split(header).length - 1, `${lib} inlined once`).toBe(1);
      }
    });

    it('defines every helper it uses', () => {
      const { used, defined } = helperNames(loaded!.lua);
      for (const n of used) expect(defined.has(n), `${n} is used but no include defines it`).toBe(true);
    });
  });
});

describe('Lua include files (lib/)', () => {
  it('include what each file uses, and only that', () => {
    for (const [file, source] of [...files.map((f) => [f, readFileSync(new URL(f, LUA_DIR), 'utf8')]), ...libs.map((l) => [`lib/${l}.lua`, readLib(l)])]) {
      const incs = includesOf(source!);
      expect(new Set(incs).size, `${file} includes a file twice`).toBe(incs.length);
      for (const inc of incs) expect(libs, `${file} includes ${inc}, which does not exist`).toContain(inc);
      const { used, defined } = helperNames(source!);
      const available = new Set(incs.flatMap(provides));
      // Every helper the file uses is its own or provided by a file it includes itself.
      for (const n of used) expect(defined.has(n) || available.has(n), `${file} uses ${n} without including the file that provides it`).toBe(true);
      // Every file it includes provides something it uses.
      for (const inc of incs) expect(provides(inc).some((n) => used.has(n)), `${file} includes ${inc} but uses none of it`).toBe(true);
    }
  });

  describe.each(libs)('%s.lua', (lib) => {
    const source = readLib(lib);

    it('starts with a header: "-- <name>: what it is", then "-- Provides:" the helpers it defines', () => {
      expect(source).toMatch(new RegExp(`^-- ${lib}: \\S`));
      const names = provides(lib);
      expect(names.length).toBeGreaterThan(0);
      const { defined } = helperNames(source);
      for (const n of names) expect(defined.has(n), `${n} is not defined in ${lib}.lua`).toBe(true);
      for (const n of defined) if (/^(rt|RT)_/.test(n) && !names.includes(n)) expect(n, `${lib}.lua defines ${n} but does not name it under Provides`).toMatch(/^RT_N?[A-Z]+$/);
    });

    it('includes nothing that includes it back', () => {
      const path: string[] = [];
      const visit = (l: string) => {
        expect(path, `include cycle: ${[...path, l].join(' -> ')}`).not.toContain(l);
        path.push(l);
        includesOf(readLib(l)).forEach(visit);
        path.pop();
      };
      visit(lib);
    });
  });

  it('go into the Function library once each, before the bodies', () => {
    const { code: lib } = functionLibrary();
    expect(lib).not.toMatch(/^--@include/m);
    for (const l of libs.filter((x) => lib.includes(readLib(x).split('\n')[0]!))) {
      expect(lib.split(readLib(l).split('\n')[0]!).length - 1, `${l} once`).toBe(1);
    }
    const { used, defined } = helperNames(lib);
    for (const n of used) expect(defined.has(n), `${n} is used in the library but not defined`).toBe(true);
  });
});

describe('script errors', () => {
  it('are the same codes in lib/errors.lua and SCRIPT_ERRORS', () => {
    const table = /local RT_ERR = \{([\s\S]*?)\n\}/.exec(readLib('errors'))![1]!;
    const codes = [...code(table).matchAll(/(\w+) = '(\w+)'/g)].map((m) => {
      expect(m[2]).toBe(`RT_${m[1]}`);
      return m[2]!;
    });
    expect(codes.sort()).toEqual(Object.keys(SCRIPT_ERRORS).sort());
  });

  it('become typed errors in one place; other errors pass as they are', () => {
    const full = scriptError(new Error('RT_QUEUE_FULL 3'), { queue: 'q', accepted: ['1', '2'] });
    expect(full).toBeInstanceOf(QueueFullError);
    expect((full as QueueFullError).message).toBe('queue q is full: 3 tasks waiting, maxWaiting would be exceeded (the first 2 tasks were accepted)');
    expect((full as QueueFullError).accepted).toEqual(['1', '2']);
    expect((scriptError(new Error('RT_QUEUE_FULL 3'), { queue: 'q' }) as Error).message).toBe('queue q is full: 3 tasks waiting, maxWaiting would be exceeded');
    const bad = scriptError(new Error('RT_BAD_ARGUMENT remove: unknown state x'), { queue: 'q' });
    expect(bad).toBeInstanceOf(UsageError);
    expect((bad as Error).message).toBe('remove: unknown state x');
    const other = new Error('ERR something else');
    expect(scriptError(other, { queue: 'q' })).toBe(other);
    expect(scriptError('RT_QUEUE_FULL 3', { queue: 'q' })).toBe('RT_QUEUE_FULL 3');
  });
});
