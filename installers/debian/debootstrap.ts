// Pure: the debootstrap command of a `debootstrap` action, with or without a package set worked out
// beforehand (resolve.ts). With one, debootstrap gets --no-resolve-deps and the whole set as
// --include: it still takes the Priority: required packages and apt by itself, so the set adds
// exactly what its own resolution would have added.
import type { Action } from '../plan/types.ts';

export type DebootstrapAction = Extract<Action, { kind: 'debootstrap' }>;

export function debootstrapArgv(a: DebootstrapAction, resolved?: string[]): string[] {
  const include = resolved ?? a.include;
  return [
    'debootstrap', '--debian-installer', `--variant=${a.variant}`, `--arch=${a.arch}`,
    ...(resolved ? ['--no-resolve-deps'] : []),
    ...(include.length ? [`--include=${include.join(',')}`] : []),
    ...(a.components.length ? [`--components=${a.components.join(',')}`] : []),
    ...(a.cacheDir ? [`--cache-dir=${a.cacheDir}`] : []),
    a.suite, a.target, a.mirror,
  ];
}
