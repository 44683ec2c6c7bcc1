import { readFileSync } from 'node:fs';

function findVersion(): string {
  // src/shared/version.ts and dist/src/shared/version.js sit two or three levels below package.json.
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'redtask' && pkg.version) return pkg.version;
    } catch {
      // try the next
    }
  }
  return '0.0.0';
}

export const VERSION = findVersion();
