import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryPosition, scrubSecrets, statusError, vendorMessage } from './common.js';
import { LokiBackend } from './loki.js';
import { PrometheusBackend } from './prometheus.js';

describe('queryPosition', () => {
  it('reads the positions Loki, Tempo and Prometheus report', () => {
    expect(queryPosition('parse error at line 1, col 30: syntax error: unexpected IDENTIFIER')).toEqual({
      line: 1,
      column: 30,
    });
    expect(queryPosition('invalid parameter "query": 2:7: parse error: unexpected <op:=>')).toEqual({
      line: 2,
      column: 7,
    });
    expect(queryPosition('parse error at char 5: unexpected identifier "b"')).toEqual({ line: 1, column: 5 });
    expect(queryPosition('max entries limit per query exceeded')).toBeUndefined();
  });
});

describe('vendorMessage', () => {
  it('takes error, message or msg from JSON, or the text, on one bounded line', () => {
    expect(vendorMessage({ status: 'error', error: 'bad\n  thing' })).toBe('bad thing');
    expect(vendorMessage({ message: 'Dashboard not found' })).toBe('Dashboard not found');
    expect(vendorMessage({ msg: 'x' })).toBe('x');
    expect(vendorMessage({ other: 1 })).toBe('{"other":1}');
    expect(vendorMessage('  plain\ttext ')).toBe('plain text');
    expect(vendorMessage('')).toBe('(empty body)');
    const long = vendorMessage('y'.repeat(5000));
    expect(long).toHaveLength(501);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('statusError', () => {
  const res = (status: number, body: unknown) => ({ status, headers: {}, body }) as never;

  it('maps vendor statuses to stable codes', () => {
    const bad = statusError('Loki', res(400, 'parse error at line 1, col 3: x'), 'the LogQL query');
    expect(bad).toMatchObject({ code: 'ERR_QUERY_INVALID', details: { backend: 'Loki', line: 1, column: 3 } });
    expect(bad.message).toBe('Loki refused the LogQL query: parse error at line 1, col 3: x');
    const input = statusError('Grafana', res(400, { message: 'bad' }), 'the search', 'ERR_INVALID_INPUT');
    expect(input.code).toBe('ERR_INVALID_INPUT');
    expect(input.details).not.toHaveProperty('line');
    expect(statusError('Tempo', res(404, 'trace not found'), 'trace 1').code).toBe('ERR_NOT_FOUND');
    expect(statusError('Grafana', res(403, 'no'), 'x').code).toBe('ERR_BACKEND_ERROR');
    expect(statusError('Loki', res(503, 'down'), 'x').code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(statusError('Loki', res(504, 'slow'), 'x').code).toBe('ERR_BACKEND_TIMEOUT');
    expect(statusError('Loki', res(504, 'slow'), 'x').message).toMatch(/narrow the query/);
    expect(statusError('Loki', res(503, 'down'), 'x').code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(statusError('Loki', res(500, 'boom'), 'x').message).toBe('Loki failed on x (HTTP 500: boom)');
  });

  it('never repeats what a 401 body echoes back', () => {
    const err = statusError('Grafana', res(401, 'token glsa_abc invalid'), 'the search');
    expect(err.message).not.toContain('glsa_abc');
  });
});

describe('scrubSecrets', () => {
  it('replaces secrets in text and JSON bodies, raw or JSON-escaped', () => {
    expect(scrubSecrets('auth was Bearer tok-123 and tok-123', ['tok-123'])).toBe(
      'auth was Bearer [redacted] and [redacted]',
    );
    expect(scrubSecrets({ error: 'saw "p\\w"', n: 1 }, ['p\\w'])).toEqual({ error: 'saw "[redacted]"', n: 1 });
    expect(scrubSecrets({ nested: [{ m: 'x tok y' }] }, ['tok'])).toEqual({ nested: [{ m: 'x [redacted] y' }] });
    expect(scrubSecrets(42, ['4'])).toBe(42);
  });
});

describe('Prometheus error bodies', () => {
  let server: Server;
  let url: string;
  let reply: { status: number; body: unknown } = { status: 200, body: {} };
  const forms: URLSearchParams[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        forms.push(new URLSearchParams(body));
        res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const prom = () => new PrometheusBackend({ url, timeoutMs: 2000 });

  it('turns bad_data into ERR_QUERY_INVALID with the position (old "at char" wording too)', async () => {
    reply = {
      status: 400,
      body: { status: 'error', errorType: 'bad_data', error: 'parse error at char 5: unexpected identifier "x"' },
    };
    await expect(prom().query('up x', undefined)).rejects.toMatchObject({
      code: 'ERR_QUERY_INVALID',
      message:
        'Prometheus refused the query: parse error at char 5: unexpected identifier "x". Fix the PromQL and try again.',
      details: { backend: 'Prometheus', errorType: 'bad_data', line: 1, column: 5 },
    });
  });

  it('maps timeout, canceled and execution errors', async () => {
    reply = {
      status: 503,
      body: { status: 'error', errorType: 'timeout', error: 'query timed out in expression evaluation' },
    };
    await expect(prom().query('up', undefined)).rejects.toMatchObject({ code: 'ERR_BACKEND_TIMEOUT' });
    reply = { status: 503, body: { status: 'error', errorType: 'canceled', error: 'context canceled' } };
    await expect(prom().query('up', undefined)).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
    reply = {
      status: 422,
      body: { status: 'error', errorType: 'execution', error: 'query processing would load too many samples' },
    };
    await expect(prom().query('up', undefined)).rejects.toMatchObject({ code: 'ERR_QUERY_INVALID' });
  });

  it('never shows configured credentials that an error body echoes', async () => {
    const token = 'prom-token-0123456789';
    reply = { status: 400, body: { status: 'error', errorType: 'bad_data', error: `header was Bearer ${token}` } };
    const withToken = new PrometheusBackend({ url, timeoutMs: 2000, auth: { token } });
    const err = await withToken.query('up', undefined).catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'ERR_QUERY_INVALID' });
    expect((err as Error).message).toContain('header was Bearer [redacted]');
    const basic = Buffer.from('agent:loki-secret-pw').toString('base64');
    reply = { status: 500, body: { message: `got Basic ${basic} (password loki-secret-pw)` } };
    const loki = new LokiBackend({ url, timeoutMs: 2000, auth: { username: 'agent', password: 'loki-secret-pw' } });
    const lokiErr = (await loki.labels('0', '1').catch((e: Error) => e)) as Error;
    expect(lokiErr.message).toBe(
      'Loki failed on the label names (HTTP 500: got Basic [redacted] (password [redacted]))',
    );
  });

  it('posts queries as a form with an evaluation timeout within ours', async () => {
    reply = { status: 200, body: { status: 'success', data: { resultType: 'matrix', result: [] } } };
    await new PrometheusBackend({ url, timeoutMs: 7500 }).queryRange('sum(up)', 100, 200, 10);
    const form = forms.at(-1);
    expect(Object.fromEntries(form ?? [])).toEqual({
      query: 'sum(up)',
      start: '100',
      end: '200',
      step: '10',
      timeout: '7s',
    });
    await new PrometheusBackend({ url, timeoutMs: 300 }).query('up', undefined);
    expect(forms.at(-1)?.get('timeout')).toBe('1s');
    expect(forms.at(-1)?.has('time')).toBe(false);
  });

  it('refuses a 200 answer that is not the documented JSON object', async () => {
    reply = { status: 200, body: ['not', 'an', 'object'] };
    await expect(prom().labelNames(undefined)).rejects.toMatchObject({ code: 'ERR_BACKEND_ERROR' });
  });

  it('carries warnings and infos beside the data, scrubbed and bounded, and checks the data it returns', async () => {
    const token = 'prom-token-0123456789';
    reply = {
      status: 200,
      body: {
        status: 'success',
        warnings: [`partial response: proxy saw Bearer ${token}`],
        infos: Array.from({ length: 6 }, (_, i) => `PromQL info ${i}: metric might not be a counter`),
        data: { resultType: 'vector', result: [] },
      },
    };
    const data = await new PrometheusBackend({ url, timeoutMs: 2000, auth: { token } }).query('up', undefined);
    expect(data.warnings).toEqual(['partial response: proxy saw Bearer [redacted]']);
    expect(data.infos).toHaveLength(5);
    expect(data.infos?.[4]).toBe('(2 more infos not shown; 6 in all)');
    reply = { status: 200, body: { status: 'success', data: { resultType: 'vector', result: [] } } };
    expect(await prom().query('up', undefined)).not.toHaveProperty('warnings');
    reply = { status: 200, body: { status: 'success', data: ['job', 7] } };
    await expect(prom().labelNames(undefined)).rejects.toMatchObject({
      code: 'ERR_BACKEND_ERROR',
      message: expect.stringMatching(
        /^Prometheus answered the label-names request in a shape we cannot read: data\[1\]: /,
      ),
      details: { backend: 'Prometheus', field: 'data[1]' },
    });
  });
});
