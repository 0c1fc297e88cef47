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

describe('classifyMessage: request ids', () => {
  it('refuses an id that is not a string or an integer, naming what it was', () => {
    const said = (id: string) => {
      const c = classifyMessage(JSON.parse(`{"jsonrpc":"2.0","id":${id},"method":"ping"}`));
      return c.kind === 'invalid' ? c.error.message.replace(/^.*, not /, '') : c.kind;
    };
    expect([
      said('{"a":1}'),
      said('[1]'),
      said('true'),
      said('null'),
      said('1.5'),
      said('1e400'),
      said('"ok"'),
      said('7'),
    ]).toEqual([
      'an object',
      'an array',
      'a boolean',
      'null',
      'the number 1.5',
      'the number Infinity',
      'request',
      'request',
    ]);
  });
});

describe('classifyMessage: method names that are Object.prototype members', () => {
  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'])(
    'classifies a request for %s without throwing (it was a 500 with id null over HTTP)',
    (method) => {
      const out = classifyMessage(JSON.parse(`{"jsonrpc":"2.0","id":7,"method":${JSON.stringify(method)}}`));
      expect(out.kind).not.toBe('invalid');
    },
  );
});
