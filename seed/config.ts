// `lpmos seed` settings: flags, LPMOS_* variables and `--config FILE` (core/config.ts). Each later
// component (DHCP, TFTP, HTTP) adds its settings here.
import { z } from 'zod';
import { DEFAULT_PREFIX, DEFAULT_SITE } from '../core/keys.ts';
import { nameSchema } from '../core/model/common.ts';
import { defaultStateDir } from './state-dir.ts';

export const seedConfigSchema = z.object({
  stateDir: z.string().min(1).default(defaultStateDir()),
  /** Existing etcd cluster; without it the seed runs its own. */
  etcd: z.string().optional(),
  etcdCa: z.string().optional(),
  etcdCert: z.string().optional(),
  etcdKey: z.string().optional(),
  etcdUser: z.string().optional(),
  etcdPassword: z.string().optional(),
  etcdBinary: z.string().default('/usr/bin/etcd'),
  site: nameSchema.default(DEFAULT_SITE),
  prefix: z.string().regex(/^\/[A-Za-z0-9._/-]*$/, 'must start with "/" and hold only letters, digits, ".", "_", "-", "/"').default(DEFAULT_PREFIX),
});

export type SeedConfig = z.infer<typeof seedConfigSchema>;
