import { CallToolRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { classifyMessage } from './message.js';

/** Params of tools/call requests, valid and not, as JSON text (so `__proto__` stays an own key). */
const PARAMS = [
  '{"name":"t"}',
  '{"name":"t","arguments":{}}',
  '{"name":"t","arguments":{"a":1,"b":[1,{"c":null}],"d":"x"}}',
  '{"name":"t","arguments":{"__proto__":{"x":1}}}',
  '{"name":"t","arguments":{"":1}}',
  '{"name":"ü😀","arguments":{"k":"v"}}',
  '{"name":"t","arguments":null}',
  '{"name":"t","arguments":[]}',
  '{"name":"t","arguments":"x"}',
  '{"name":1}',
  '{"name":""}',
  '{}',
  '{"arguments":{}}',
  '{"name":"t","arguments":{},"task":{}}',
  '{"name":"t","arguments":{},"task":{"ttl":"x"}}',
  '{"name":"t","_meta":{"progressToken":1}}',
  '{"name":"t","_meta":{"progressToken":{}}}',
  '{"name":"t","extra":1}',
];

describe('classifyMessage: tools/call params', () => {
  it('accepts nothing the SDK schema refuses (the name-and-arguments shortcut skips no refusal)', () => {
    let accepted = 0;
    for (const p of PARAMS) {
      const message = JSON.parse(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":${p}}`);
      const ours = classifyMessage(message);
      const sdk = CallToolRequestSchema.safeParse({ method: 'tools/call', params: message.params });
      // Our gate may be stricter (an empty name), never looser.
      if (ours.kind === 'request') {
        accepted++;
        expect({ p, sdk: sdk.success }).toEqual({ p, sdk: true });
      }
    }
    expect(accepted).toBe(9);
  });
});
