// Pure: the debootstrap command of a `debootstrap` action, with or without a package set worked out
// beforehand (resolve.ts). With one, debootstrap runs --no-resolve-deps with a suite script of ours
// that is debootstrap's own script for the suite with two functions replaced: work_out_debs, which
// then hands debootstrap the resolved `required` and `base` lists (from the environment), and
// setup_dselect_method, which also diverts update-initramfs until the configure step. The split
// matters: debootstrap unpacks `required` by hand before anything runs in the target, so libc6 and
// the other libraries the required tools need must be in it — an --include list would land in
// `base`, and `chroot /bin/true` would fail for want of the dynamic loader.
import type { Action } from '../plan/types.ts';
import type { DebootstrapSelection } from './resolve.ts';

export type DebootstrapAction = Extract<Action, { kind: 'debootstrap' }>;

/** A debootstrap run with the package set resolved beforehand. */
export interface ResolvedRun {
  /** Where the executor wrote debootstrapScript(suite). */
  script: string;
  selection: DebootstrapSelection;
}

export const REQUIRED_VAR = 'LPMOS_DEBOOTSTRAP_REQUIRED';
export const BASE_VAR = 'LPMOS_DEBOOTSTRAP_BASE';
const UPDATE_INITRAMFS = '/usr/sbin/update-initramfs';
const DIVERTED = '/usr/sbin/update-initramfs.lpmos';

/**
 * The configure step's initramfs (in the chroot): the diversion goes (after a diverted install); a
 * kernel without an initramfs gets one; existing ones are rebuilt when $1 is `yes` (arrays, volume
 * groups, link files). Safe to run again after a crash at any point: a build cut off half-way leaves
 * no initrd.img (update-initramfs writes .new and renames), so the next run builds it.
 */
export const INITRAMFS_SCRIPT = [
  `if [ -e ${DIVERTED} ]; then`,
  `  rm -f ${UPDATE_INITRAMFS}`,
  `  dpkg-divert --quiet --local --rename --remove ${UPDATE_INITRAMFS}`,
  'fi',
  'for v in $(linux-version list); do',
  '  if [ ! -e "/boot/initrd.img-$v" ]; then update-initramfs -c -k "$v"',
  '  elif [ "$1" = yes ]; then update-initramfs -u -k "$v"; fi',
  'done',
].join('\n');

/** The suite script: debootstrap's own, then our work_out_debs and setup_dselect_method. */
export function debootstrapScript(suite: string): string {
  if (!/^[a-z][a-z0-9-]*$/.test(suite)) throw new Error(`not a suite name: ${JSON.stringify(suite)}`);
  return [
    '# LPMOS: debootstrap\'s script for this suite; the package lists were resolved beforehand',
    '# (installers/debian/resolve.ts, debootstrap\'s own rules) and come from the environment.',
    `. "$DEBOOTSTRAP_DIR/scripts/${suite}"`,
    'work_out_debs () {',
    `\trequired="$${REQUIRED_VAR}"`,
    `\tbase="$${BASE_VAR}"`,
    '}',
    '# debootstrap calls this once the required packages are unpacked, before any is configured. As',
    '# debootstrap\'s own, and then: no initramfs while packages are configured (the kernel\'s postinst and',
    '# every initramfs trigger would each build one; ≈ 16 min apiece in an emulated machine). The',
    '# configure step takes the diversion away and builds the one that boots (see INITRAMFS_SCRIPT).',
    'setup_dselect_method () {',
    '\tmkdir -p "$TARGET/var/lib/dpkg"',
    '\techo "apt apt" > "$TARGET/var/lib/dpkg/cmethopt"',
    '\tchmod 644 "$TARGET/var/lib/dpkg/cmethopt"',
    `\tin_target dpkg-divert --quiet --local --rename --divert ${DIVERTED} --add ${UPDATE_INITRAMFS}`,
    `\tprintf '#!/bin/sh\\n# LPMOS: diverted while the system is installed\\nexit 0\\n' > "$TARGET${UPDATE_INITRAMFS}"`,
    `\tchmod 755 "$TARGET${UPDATE_INITRAMFS}"`,
    '}',
    '',
  ].join('\n');
}

export function debootstrapArgv(a: DebootstrapAction, resolved?: ResolvedRun): string[] {
  return [
    'debootstrap', '--debian-installer', `--variant=${a.variant}`, `--arch=${a.arch}`,
    ...(resolved ? ['--no-resolve-deps'] : a.include.length ? [`--include=${a.include.join(',')}`] : []),
    ...(a.components.length ? [`--components=${a.components.join(',')}`] : []),
    ...(a.cacheDir ? [`--cache-dir=${a.cacheDir}`] : []),
    a.suite, a.target, a.mirror, ...(resolved ? [resolved.script] : []),
  ];
}

/** The environment that carries the lists to the script. */
export function debootstrapEnv(resolved?: ResolvedRun): Record<string, string> {
  return {
    LC_ALL: 'C',
    ...(resolved ? { [REQUIRED_VAR]: resolved.selection.required.join(' '), [BASE_VAR]: resolved.selection.base.join(' ') } : {}),
  };
}
