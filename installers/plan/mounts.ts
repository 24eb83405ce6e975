// Where the layout's filesystems go under the target, and in which order.
import type { ResolvedFs } from './layout.ts';

/** Mount order: parents before children (`/` before `/boot` before `/boot/efi`); swap is not mounted. */
export function mountOrder(fss: ResolvedFs[]): ResolvedFs[] {
  const depth = (f: ResolvedFs): number => (f.mount ?? '').split('/').filter(Boolean).length;
  return fss.filter((f) => f.mount && f.type !== 'swap').sort((a, b) => depth(a) - depth(b) || (a.mount ?? '').localeCompare(b.mount ?? ''));
}

export const targetPath = (target: string, mount: string): string => (mount === '/' ? target : `${target}${mount}`);
