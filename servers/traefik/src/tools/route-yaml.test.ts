import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { traefikYaml } from './route-yaml.js';

describe('traefikYaml', () => {
  it('never reports a value through process warnings (stderr, past the log redaction)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const headers = { 'X-Api-Key': '!vault s3cr3t-header-value', 'X-Other': '!!foo bar' };
      const text = traefikYaml({ http: { middlewares: { auth: { headers: { customRequestHeaders: headers } } } } });
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      expect(warnings).toEqual([]);
      // and the values still read back as written (tags quoted away)
      expect(parse(text).http.middlewares.auth.headers.customRequestHeaders).toEqual(headers);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('writes long or hostile strings quoted, reading back the same', () => {
    const values = [']'.repeat(2048), `Host(\`${'a'.repeat(300)}.example\`)`, '2024-01-02', '0b1', 'plain-value'];
    const text = traefikYaml({ v: values });
    expect(parse(text).v).toEqual(values);
    expect(parse(text, { version: '1.1' }).v).toEqual(values);
    expect(text).toContain('- plain-value\n');
    expect(text).toContain(`- "${']'.repeat(2048)}"`);
  });
});
