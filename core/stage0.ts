// The contract between the ramdisk's stage 0 (boot/ramdisk/stage0.ts, built with the ramdisk), the seed's
// iPXE script that boots through it (seed/http/boot-scripts.ts) and the agent that keeps the ramdisk it
// left behind (agent/boot-blobs.ts).

/** Artifact name of stage 0 beside vmlinuz and initrd.img. */
export const STAGE0_FILE = 'stage0.img';
/** The kernel argument that runs stage 0 instead of the ramdisk's /init. */
export const STAGE0_RDINIT = 'rdinit=/stage0/init';
/** The file iPXE wraps the ramdisk as (its cpio name); stage 0 unpacks it and leaves it for the agent. */
export const KEPT_INITRD_PATH = '/lpmos-initrd.img';
