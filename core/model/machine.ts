// A machine's identity (DESIGN §2 `machines/<id>`): how the seed recognises it, and where it is.
import { z } from 'zod';
import { ipv4Schema, labelsSchema, macSchema, nameSchema, timestampSchema } from './common.ts';
import { specSchema } from './spec.ts';

export const locationSchema = z.strictObject({
  /** DHCP relay agent information (option 82), as seen by the seed. */
  relay: z.string().optional(),
  circuitId: z.string().optional(),
  remoteId: z.string().optional(),
  seenAt: timestampSchema.optional(),
});

export const machineSchema = z.strictObject({
  kind: z.literal('Machine'),
  name: nameSchema,
  macs: z.array(macSchema).min(1, 'a machine needs at least one MAC address'),
  serial: z.string().min(1).optional(),
  uuid: z.uuid().optional(),
  labels: labelsSchema.default({}),
  /** Fixed address: a DHCP reservation that always wins. */
  ipv4: ipv4Schema.optional(),
  location: locationSchema.optional(),
  createdAt: timestampSchema.optional(),
});

/** A machine document as applied by an operator: identity plus, optionally, its spec. */
export const machineDocumentSchema = machineSchema.extend({ spec: specSchema.optional() }).superRefine((m, ctx) => {
  const seen = new Set<string>();
  m.macs.forEach((mac, i) => {
    if (seen.has(mac)) ctx.addIssue({ code: 'custom', path: ['macs', i], message: `${mac} is listed twice` });
    seen.add(mac);
  });
});

export type Machine = z.infer<typeof machineSchema>;
export type MachineDocument = z.infer<typeof machineDocumentSchema>;
export type Location = z.infer<typeof locationSchema>;

/** Name given to a machine enrolled by its MAC alone. */
export function nameFromMac(mac: string): string {
  return `m-${mac.replaceAll(':', '')}`;
}
