import { describe, expect, it } from 'vitest';
import { advertisedAnnotations, readAnnotations } from './annotations.js';
import type { ToolAnnotations } from './types.js';

const bools = [true, false];
/** Every combination the registry accepts (read-only tools are neither destructive nor non-idempotent). */
const valid: ToolAnnotations[] = bools
  .flatMap((readOnlyHint) =>
    bools.flatMap((destructiveHint) =>
      bools.flatMap((idempotentHint) =>
        bools.map((openWorldHint) => ({ readOnlyHint, destructiveHint, idempotentHint, openWorldHint })),
      ),
    ),
  )
  .filter((a) => !(a.readOnlyHint && (a.destructiveHint || !a.idempotentHint)));

describe('advertisedAnnotations', () => {
  it('sends a read-only, closed-world tool as two hints', () => {
    expect(
      advertisedAnnotations({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false }),
    ).toEqual({ readOnlyHint: true, openWorldHint: false });
  });

  it('sends only what differs from the spec defaults on a write tool', () => {
    expect(
      advertisedAnnotations({ readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true }),
    ).toEqual({ destructiveHint: false, idempotentHint: true });
    expect(
      advertisedAnnotations({ readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true }),
    ).toEqual({});
  });

  it.each(valid.map((a) => [JSON.stringify(a), a] as const))('a client reads %s back unchanged', (_, a) => {
    expect(readAnnotations(advertisedAnnotations(a))).toEqual(a);
  });
});
