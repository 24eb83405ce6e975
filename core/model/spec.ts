// A machine's desired state (DESIGN §2 `machines/<id>/spec`). Nothing is written to a machine's disks
// until an operator gives it a spec with an action that allows it.
import { z } from 'zod';
import { nameSchema, timestampSchema } from './common.ts';

export const ACTIONS = ['inspect', 'install', 'wipe', 'rescue', 'localboot'] as const;
export type Action = (typeof ACTIONS)[number];

export const specSchema = z
  .strictObject({
    action: z.enum(ACTIONS),
    profile: nameSchema.optional(),
    /** Per-machine overrides of the profile. */
    overrides: z.strictObject({ hostname: z.string().optional(), kernelCmdline: z.string().optional() }).optional(),
    updatedAt: timestampSchema.optional(),
  })
  .refine((s) => s.action !== 'install' || s.profile !== undefined, { message: 'action "install" needs a profile', path: ['profile'] });

export type Spec = z.infer<typeof specSchema>;
