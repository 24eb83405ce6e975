// `lpmos boot assets` and `lpmos boot ramdisk`: build what a machine boots (boot/).
import { Option, type Command } from 'commander';
import { join, resolve } from 'node:path';
import { ErrorCode, LpmosError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import { outputOption, print, type OutputFormat } from '../output.ts';

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

export function registerBootCommands(program: Command): void {
  const boot = program.command('boot').description('build boot assets (iPXE, pxelinux, shim+GRUB, kernel) and the agent ramdisk');

  boot
    .command('assets')
    .description('gather boot loaders and a kernel from Debian packages (apt-get download + dpkg-deb -x, nothing installed) with a manifest')
    .option('--out <dir>', 'output directory (default: ${XDG_CACHE_HOME:-~/.cache}/lpmos/boot-assets)')
    .addOption(outputOption())
    .addHelpText('after', '\nFiles: undionly.kpxe ipxe.efi snponly.efi pxelinux.0 lpxelinux.0 *.c32 shimx64.efi mmx64.efi grubx64.efi vmlinuz manifest.json.\nPackages are cached in ${XDG_CACHE_HOME:-~/.cache}/lpmos/debs: a second run works offline.')
    .action(async (opts: { out?: string; output: OutputFormat }) => {
      const { gatherBootAssets } = await import('../../boot/assets/gather.ts');
      const { lpmosCacheDir } = await import('../../boot/cache.ts');
      const outDir = opts.out ?? join(lpmosCacheDir(), 'boot-assets');
      const m = await gatherBootAssets({ outDir, log: createLogger({ name: 'boot' }) });
      print(opts.output, { outDir, ...m }, {
        rows: m.files,
        columns: [
          { header: 'FILE', get: (f) => f.file },
          { header: 'SIZE', get: (f) => f.size },
          { header: 'PACKAGE', get: (f) => `${f.package} ${f.version}` },
          { header: 'SHA256', get: (f) => f.sha256.slice(0, 16) },
        ],
      });
    });

  boot
    .command('ramdisk')
    .description('build the agent ramdisk: kernel + initramfs (Debian minbase, disk/RAID tools, pruned modules, Node 24, bundled agent)')
    .option('--out <dir>', 'also copy vmlinuz, initrd.img and manifest.json here (the build itself is cached under ~/.cache/lpmos/ramdisk)')
    .option('--entry <file>', 'the agent entry to bundle (default: the agent/main.ts of this installation)')
    .addOption(new Option('--compression <kind>', 'initramfs compression').choices(['zstd', 'xz']).default('zstd'))
    .option('--level <n>', 'compression level (zstd 1–22, xz 0–9); default 12 for zstd, 6 for xz')
    .addOption(outputOption())
    .addHelpText('after', '\nNeeds root (mmdebstrap, chroot). Cached by the hash of every input: a rebuild with nothing changed takes seconds.\nThe kernel command line of the ramdisk: lpmos.* settings (see `lpmos agent --help`), BOOTIF=01-aa-bb-cc-dd-ee-ff, lpmos.net=none.')
    .action(async (opts: { out?: string; entry?: string; compression: 'zstd' | 'xz'; level?: string; output: OutputFormat }) => {
      const level = opts.level === undefined ? (opts.compression === 'xz' ? 6 : 12) : Number(opts.level);
      const max = opts.compression === 'xz' ? 9 : 22;
      if (!Number.isInteger(level) || level < 0 || level > max) throw new LpmosError(ErrorCode.Usage, `--level must be an integer 0–${max} for ${opts.compression}`);
      const { buildRamdisk } = await import('../../boot/ramdisk/build.ts');
      const r = await buildRamdisk({
        ...(opts.entry ? { entry: resolve(opts.entry) } : {}),
        compression: { kind: opts.compression, level },
        log: createLogger({ name: 'boot' }),
        ...(opts.out ? { outDir: opts.out } : {}),
      });
      const m = r.manifest;
      print(opts.output, { dir: r.dir, cached: r.cached, ...m }, () => [
        `kernel   ${r.kernel}  ${mb(m.kernel.size)}  ${m.kernel.package} ${m.kernel.version}`,
        `initrd   ${r.initrd}  ${mb(m.initrd.size)}  ${m.initrd.compression}, ${m.modules} modules, node ${m.node.version}`,
        `layers   ${m.layers.map((l) => `${l.name} ${mb(l.size)}`).join(', ')}`,
        `${r.cached ? 'cached' : `built in ${m.buildSeconds} s`}${opts.out ? `; copied to ${opts.out}` : ''}`,
        '',
      ].join('\n'));
    });
}
