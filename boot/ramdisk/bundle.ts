// The agent bundled into one ESM file for the ramdisk (esbuild), plus the runtime files its
// dependencies read from disk next to their code (etcd3 loads `${__dirname}/../proto/rpc.proto`).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, LpmosError } from '../../core/errors.ts';

export interface AgentBundle {
  /** The bundled program, ESM. */
  code: Buffer;
  /** Extra files, path relative to /usr/lib/lpmos → bytes. */
  files: Map<string, Buffer>;
  /** Source files that went into it (relative to the project root). */
  inputs: string[];
}

/**
 * `require`, `__filename` and `__dirname` for the CommonJS packages inside an ESM bundle: the bundle lives at
 * /usr/lib/lpmos/lib/agent.mjs, so `__dirname/../proto` is /usr/lib/lpmos/proto.
 */
const BANNER = [
  "import { createRequire as __lpmosRequire } from 'node:module';",
  "import { fileURLToPath as __lpmosPath } from 'node:url';",
  "import { dirname as __lpmosDirname } from 'node:path';",
  'const require = __lpmosRequire(import.meta.url);',
  'const __filename = __lpmosPath(import.meta.url);',
  'const __dirname = __lpmosDirname(__filename);',
].join('\n');

/** Data directories that bundled packages open at run time: package → its dir → where it goes under /usr/lib/lpmos. */
const RUNTIME_DIRS: readonly { pkg: string; dir: string; to: string }[] = [{ pkg: 'etcd3', dir: 'proto', to: 'proto' }];

export async function bundleAgent(entry: string, projectRoot: string): Promise<AgentBundle> {
  const esbuild = await import('esbuild').catch((e: unknown) => {
    throw new LpmosError(ErrorCode.Unavailable, 'esbuild is not installed (npm ci installs it as a devDependency)', { cause: e });
  });
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      absWorkingDir: projectRoot,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      write: false,
      outfile: 'agent.mjs',
      metafile: true,
      banner: { js: BANNER },
      legalComments: 'none',
      logLevel: 'silent',
    });
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors ?? [];
    throw new LpmosError(ErrorCode.Validation, `cannot bundle the agent from ${entry}`, {
      details: errors.map((x) => ({ path: x.location ? `${x.location.file}:${x.location.line}` : entry, message: x.text })),
      cause: e,
    });
  }
  const out = result.outputFiles.find((f) => f.path.endsWith('.mjs'));
  if (!out) throw new LpmosError(ErrorCode.Internal, 'esbuild produced no output');
  const inputs = Object.keys(result.metafile.inputs).sort();
  const files = new Map<string, Buffer>();
  for (const r of RUNTIME_DIRS) {
    const used = inputs.find((i) => i.includes(`node_modules/${r.pkg}/`));
    if (!used) continue;
    const pkgRoot = used.slice(0, used.indexOf(`node_modules/${r.pkg}/`) + `node_modules/${r.pkg}/`.length);
    const dir = join(projectRoot, pkgRoot, r.dir);
    for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      const abs = join(e.parentPath, e.name);
      files.set(join(r.to, abs.slice(dir.length + 1)), await readFile(abs));
    }
  }
  return { code: Buffer.from(out.contents), files, inputs };
}
