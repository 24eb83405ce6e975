// systemd-detect-virt(1) prints one identifier (`kvm`, `qemu`, `vmware`, `microsoft`, `oracle`,
// `xen`, `docker`, `lxc`… or `none`) and exits 1 when it found none; the exit code is not an error.

export function parseDetectVirt(output: string): string | null {
  const first = output.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '');
  if (first === undefined || !/^[a-z0-9][a-z0-9_-]*$/.test(first)) return null;
  return first;
}
