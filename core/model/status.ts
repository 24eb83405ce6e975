// Observed state of a machine (DESIGN §2 `machines/<id>/status`), written by the seed and the agents.
import { z } from 'zod';
import { timestampSchema } from './common.ts';

export const STATES = ['discovered', 'inspected', 'ready', 'provisioning', 'provisioned', 'failed', 'wiping', 'rescue'] as const;
export type LifecycleState = (typeof STATES)[number];

export const statusSchema = z.strictObject({
  state: z.enum(STATES),
  step: z.string().optional(),
  /** Percent of the current step, 0–100. */
  progress: z.number().min(0).max(100).optional(),
  lastError: z.strictObject({ code: z.string(), message: z.string(), at: timestampSchema }).optional(),
  /** When the machine entered `state`. */
  since: timestampSchema,
  updatedAt: timestampSchema,
});

export type Status = z.infer<typeof statusSchema>;
