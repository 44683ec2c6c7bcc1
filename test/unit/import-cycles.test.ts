import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// No module of src/ imports itself through others: a cycle makes the order in which modules run
// depend on which one is imported first (a class used before it is defined), and ties together
// parts that should be testable alone. Type-only imports count too: they couple the modules' meaning.

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Every .ts file below `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** The relative modules a file imports or re-exports (`from './x.js'`), as .ts paths. */
export function localImports(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/\b(?:import|export)\s[^;]*?\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/g)) {
    out.push(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  }
  for (const m of text.matchAll(/\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
    out.push(resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
  }
  return out;
}

/** The cycles of a graph, each as the path that closes it (the first module repeated at the end). */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

describe('import cycles', () => {
  it('finds a cycle, and none in a tree', () => {
    expect(findCycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]]))).toEqual([['a', 'b', 'c', 'a']]);
    expect(findCycles(new Map([['a', ['a']]]))).toEqual([['a', 'a']]);
    expect(findCycles(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]]))).toEqual([]);
  });

  it('reads imports, re-exports and type imports, over several lines', () => {
    const text = "import { a,\n  b } from './x.js';\nimport type { T } from '../y.js';\nexport * from './z.js';\nimport { r } from 'ioredis';\nconst m = await import('./w.js');\n";
    expect(localImports('/p/src/f.ts', text)).toEqual(['/p/src/x.ts', '/p/y.ts', '/p/src/z.ts', '/p/src/w.ts']);
  });

  it('src/ has none', () => {
    const files = sources(SRC);
    const graph = new Map(files.map((f) => [f, localImports(f, readFileSync(f, 'utf8'))]));
    // Every import names a file that is there (else the graph would miss edges).
    const missing = [...graph.values()].flat().filter((f) => !graph.has(f));
    expect(missing).toEqual([]);
    const cycles = findCycles(graph).map((c) => c.map((f) => relative(SRC, f)).join(' -> '));
    expect(cycles).toEqual([]);
  });
});
