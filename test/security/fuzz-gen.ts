/**
 * A seeded generator of malformed JSON-RPC message bodies (text, since duplicate keys, lone
 * surrogates and truncation cannot be expressed as values). Deterministic for a given seed.
 */

export type Rng = () => number;

/** mulberry32: small, fast, good enough for test input. */
export function seeded(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T;

const UNICODE = ['é', 'ß', '中文', '🦀', '\u0000', '\u202e', '\ufeff', '\u2028', 'ｆｕｌｌ', 'a\u0301'];

function deepValue(levels: number, leaf: unknown = 1): string {
  const open = '['.repeat(levels);
  return `${open}${JSON.stringify(leaf)}${']'.repeat(levels)}`;
}

/** A random JSON value of a random type (as text), sometimes hostile. */
function anyValue(rng: Rng): string {
  switch (Math.floor(rng() * 14)) {
    case 0:
      return 'null';
    case 1:
      return String(Math.floor(rng() * 2 ** 31) - 2 ** 30);
    case 2:
      return String(rng() * 1e6);
    case 3:
      return rng() < 0.5 ? 'true' : 'false';
    case 4:
      return JSON.stringify(pick(rng, UNICODE).repeat(1 + Math.floor(rng() * 5)));
    case 5:
      return '[]';
    case 6:
      return '{}';
    case 7:
      return JSON.stringify('s'.repeat(Math.floor(rng() * 300_000)));
    case 8:
      return deepValue(10 + Math.floor(rng() * 3000));
    case 9:
      return `{${Array.from({ length: 1 + Math.floor(rng() * 40) }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    case 10:
      return '"\\ud800"'; // lone surrogate
    case 11:
      return '1e400';
    case 12:
      return String(2 ** 53 + 2);
    default:
      return JSON.stringify({ nested: { _meta: pick(rng, ['x', 1, [], null]) } });
  }
}

const METHODS = ['tools/call', 'tools/list', 'ping', 'initialize', 'resources/list', 'notifications/cancelled', ''];
const TOOLS = ['echo_say', 'echo_noop', 'echo_write', 'echo_delete', 'echo_secret_rotate', 'nope', ''];

/** A valid-looking template with named slots, each of which a mutation may replace. */
function template(rng: Rng): Record<string, string> {
  const method = pick(rng, METHODS);
  const slots: Record<string, string> = {
    jsonrpc: '"2.0"',
    id: rng() < 0.5 ? String(Math.floor(rng() * 1000)) : JSON.stringify(`r-${Math.floor(rng() * 1000)}`),
    method: JSON.stringify(method),
  };
  if (method === 'tools/call') {
    const tool = pick(rng, TOOLS);
    const args =
      tool === 'echo_say'
        ? `{"message":${rng() < 0.7 ? '"hi"' : anyValue(rng)}}`
        : tool === 'echo_write'
          ? `{"value":${rng() < 0.7 ? '"v"' : anyValue(rng)}}`
          : '{}';
    slots.params = `{"name":${JSON.stringify(tool)},"arguments":${args}}`;
  } else if (method === 'initialize') {
    slots.params = '{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"f","version":"1"}}';
  } else if (method === 'notifications/cancelled') {
    delete slots.id;
    slots.params = `{"requestId":${rng() < 0.5 ? Math.floor(rng() * 200) : JSON.stringify(String(Math.floor(rng() * 200)))}}`;
  } else if (rng() < 0.5) {
    slots.params = '{}';
  }
  return slots;
}

function render(slots: Record<string, string>): string {
  return `{${Object.entries(slots)
    .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
    .join(',')}}`;
}

/** One malformed (or occasionally valid) body; `kind` names the mutation for failure messages. */
export function malformedBody(rng: Rng): { kind: string; body: string } {
  const slots = template(rng);
  const keys = Object.keys(slots);
  switch (Math.floor(rng() * 18)) {
    case 16:
    case 17: {
      // 2026-07-28 envelope (SDK v2 leg) with a random client-capabilities value and method
      const caps = rng() < 0.5 ? '{}' : anyValue(rng);
      const version = pick(rng, ['"2026-07-28"', '"2099-01-01"', '"2025-11-25"', anyValue(rng)]);
      const rest = slots.params ? slots.params.slice(1, -1) : '';
      slots.params = `{"_meta":{"io.modelcontextprotocol/protocolVersion":${version},"io.modelcontextprotocol/clientCapabilities":${caps}}${rest ? `,${rest}` : ''}}`;
      return { kind: 'modern envelope', body: render(slots) };
    }
    case 0:
    case 1:
    case 2: {
      const key = pick(rng, keys);
      slots[key] = anyValue(rng);
      return { kind: `wrong type at ${key}`, body: render(slots) };
    }
    case 3: {
      const key = pick(rng, keys);
      delete slots[key];
      return { kind: `missing ${key}`, body: render(slots) };
    }
    case 4:
      slots[pick(rng, ['result', 'error', 'extra', 'params2', '__proto__'])] = anyValue(rng);
      return { kind: 'extra member', body: render(slots) };
    case 5: {
      const where = pick(rng, ['_meta', 'arguments', 'params']);
      const deep = deepValue(30 + Math.floor(rng() * 5000));
      if (where === 'params') slots.params = deep;
      else if (where === '_meta') slots.params = `{"_meta":{"x":${deep}}}`;
      else slots.params = `{"name":"echo_write","arguments":{"value":${deep}}}`;
      return { kind: `deep ${where}`, body: render(slots) };
    }
    case 6:
      slots.params = `{"name":${JSON.stringify('n'.repeat(1000 + Math.floor(rng() * 500_000)))}}`;
      slots.method = '"tools/call"';
      return { kind: 'huge tool name', body: render(slots) };
    case 7: {
      const key = pick(rng, keys);
      return {
        kind: `duplicate ${key}`,
        body: render(slots).replace(/^\{/, `{${JSON.stringify(key)}:${anyValue(rng)},`),
      };
    }
    case 8:
      return {
        kind: 'response as request',
        body: `{"jsonrpc":"2.0","id":${slots.id ?? 1},${rng() < 0.5 ? '"result"' : '"error"'}:${anyValue(rng)}}`,
      };
    case 9:
      slots.params = `{"_meta":${anyValue(rng)}}`;
      return { kind: 'bad _meta', body: render(slots) };
    case 10: {
      const full = render(slots);
      return { kind: 'truncated', body: full.slice(0, Math.floor(rng() * full.length)) };
    }
    case 11:
      return { kind: 'batch', body: `[${render(slots)},${render(template(rng))}]` };
    case 12:
      return { kind: 'top-level scalar', body: anyValue(rng) };
    case 13:
      slots.method = JSON.stringify(pick(rng, UNICODE) + pick(rng, METHODS));
      return { kind: 'unicode method', body: render(slots) };
    case 14:
      return {
        kind: 'cancel a guessed id',
        body: `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":${
          rng() < 0.5 ? Math.floor(rng() * 500) : JSON.stringify(crypto.randomUUID())
        }}}`,
      };
    default:
      slots.params = `{"name":"echo_say","arguments":${pick(rng, ['[]', 'null', '"x"', '7', '[{"message":"hi"}]'])}}`;
      slots.method = '"tools/call"';
      return { kind: 'arguments not an object', body: render(slots) };
  }
}

/** Whether a JSON-RPC peer must answer this text, and with which id (JSON-RPC 2.0 section 5). */
export function expectedAnswer(text: string): { answer: false } | { answer: true; id: string | number | null } {
  if (text.trim() === '') return { answer: false }; // a blank line is not a message
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return { answer: true, id: null };
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return { answer: true, id: null };
  const o = m as Record<string, unknown>;
  const usable =
    (typeof o.id === 'string' && o.id.length <= 256) || (typeof o.id === 'number' && Number.isSafeInteger(o.id));
  if ('method' in o)
    return 'id' in o ? { answer: true, id: usable ? (o.id as string | number) : null } : { answer: false };
  const isResponse =
    o.jsonrpc === '2.0' &&
    usable &&
    'result' in o !== 'error' in o &&
    Object.keys(o).every((k) => ['jsonrpc', 'id', 'result', 'error'].includes(k)) &&
    [o.result ?? o.error].every((v) => v !== null && typeof v === 'object' && !Array.isArray(v));
  return isResponse ? { answer: false } : { answer: true, id: null };
}
