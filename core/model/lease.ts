// DHCP leases (DESIGN §2 `leases/<mac>`), written by the seed's DHCP server. Two records per lease,
// changed together in one compare-and-swap transaction so two seeds (or two handlers) never give
// one address to two MACs: the lease under `leases/<mac>` and its address claim under
// `lease-addresses/<ip>`. A declined address (RFC 2131 §4.3.3) has a claim without a MAC until its
// quarantine ends. Expired and released leases stay stored: the client gets its address back, and
// the pool reuses the oldest ones first.
import { z } from 'zod';
import { ipv4Schema, macSchema, timestampSchema } from './common.ts';

export const LEASE_STATES = ['bound', 'released'] as const;

export const leaseSchema = z.strictObject({
  kind: z.literal('Lease'),
  mac: macSchema,
  ip: ipv4Schema,
  state: z.enum(LEASE_STATES),
  /** End of the lease; for a released lease, the time of release. */
  expiresAt: timestampSchema,
  updatedAt: timestampSchema,
  /** Subnet the address belongs to, `a.b.c.d/prefix`. */
  subnet: z.string(),
  /** Server id (option 54) of the seed that granted it. */
  server: ipv4Schema,
  hostname: z.string().max(255).optional(),
  /** Option 61, hex. */
  clientId: z.string().regex(/^[0-9a-f]*$/).max(510).optional(),
  /** Machine record the MAC belongs to, when known. */
  machine: z.string().optional(),
});
export type Lease = z.infer<typeof leaseSchema>;

export const addressClaimSchema = z.strictObject({
  kind: z.literal('LeaseAddress'),
  ip: ipv4Schema,
  /** Holder; absent for a declined (quarantined) address. */
  mac: macSchema.optional(),
  state: z.enum(['bound', 'released', 'declined']),
  /** The claim is free for another MAC after this time. */
  expiresAt: timestampSchema,
});
export type AddressClaim = z.infer<typeof addressClaimSchema>;
