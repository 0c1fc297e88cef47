import { z } from 'zod';
import { ISSUES } from '../checks.js';

/** Shapes shared by several tools, defined once. Output schemas carry shapes only. */
export const SecretName = z.string().max(2048).describe('Name or ARN in the store');

export const SecretMeta = z.object({
  name: z.string(),
  description: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  created: z.string().optional(),
  changed: z.string().optional(),
  accessed: z.string().optional(),
  rotated: z.string().optional(),
  rotationEnabled: z.boolean().optional(),
  deleted: z.string().optional(),
});
export type SecretMeta = z.input<typeof SecretMeta>;

export const Stages = z.record(z.string(), z.array(z.string()));

export const Issue = z.enum(ISSUES);

export const Page = {
  truncated: z.boolean(),
  nextCursor: z.string().optional(),
};

export const Cursor = z.string().max(4096).optional().describe('From nextCursor');
