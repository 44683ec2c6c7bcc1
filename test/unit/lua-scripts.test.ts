import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadScripts } from '../../src/shared/scripts.js';

const LUA_DIR = new URL('../../src/shared/lua/', import.meta.url);
const files = readdirSync(LUA_DIR).filter((f) => f.endsWith('.lua'));

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

    it('inlines every include', () => {
      expect(loaded!.lua).not.toMatch(/^--@include/m);
      for (const inc of raw.matchAll(/^--@include (\w+)/gm)) {
        const lib = readFileSync(new URL(`lib/${inc[1]}.lua`, LUA_DIR), 'utf8');
        expect(loaded!.lua).toContain(lib);
      }
    });
  });
});
