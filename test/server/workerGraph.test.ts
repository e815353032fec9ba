/**
 * The API's worker thread loads no store and no scheduler code: its module
 * graph, followed through every runtime import from serverWorker.ts, holds
 * no better-sqlite3 and nothing under src/store, src/scheduler, src/daemon
 * or src/runners. (Type-only imports are erased and do not count.)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Runtime import specifiers of a TypeScript file (`import type` and `export type` excluded). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  const pattern = /^\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
  for (const match of text.matchAll(pattern)) specifiers.push(match[1]!);
  return specifiers;
}

function moduleGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const specifier of runtimeImports(file)) {
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else if (!specifier.startsWith('node:'))
        packages.add(
          specifier.split('/')[0]!.startsWith('@')
            ? specifier.split('/').slice(0, 2).join('/')
            : specifier.split('/')[0]!,
        );
    }
  };
  visit(entry);
  return { files, packages };
}

it("the API worker's module graph contains no better-sqlite3 and no store or scheduler code", () => {
  const { files, packages } = moduleGraph(join(SRC, 'server/serverWorker.ts'));
  const local = [...files].map((file) => relative(SRC, file)).sort();
  assert.ok(local.includes('server/httpApp.ts') && local.includes('server/routes.ts'), local.join(', '));
  assert.ok(!packages.has('better-sqlite3'), [...packages].join(', '));
  const forbidden = local.filter((file) => /^(store|scheduler|daemon|runners|statuses)\//.test(file));
  assert.deepEqual(forbidden, []);
  // The walk follows what it should: the route table's schema library is in the graph.
  assert.ok(packages.has('zod'));
});
