/**
 * Seventh attack round on the observability server, from outside: hostile backend answers from fakes on
 * loopback (bodies a proxy, a broken build or a compromised backend could send), through the tools as the
 * server runs them. Probed and found sound: trickled and short bodies (timeout naming the bytes read), truncated
 * JSON, UTF-16 and BOM bodies, bad gzip, duplicate series and fingerprints, unicode and empty label names,
 * ±1e308 and NaN values, unsorted and duplicate timestamps. What broke is below, each with its test.
 */
import { describe, expect, it } from 'vitest';
import { call, callError } from '../observability/harness.js';
import { useFakeBackends } from './observability-fakes.js';

const backends = useFakeBackends();
const { services, answerJson } = backends;

/** A JSON list nested `depth` levels: JSON.parse reads it without recursing, JSON.stringify recurses. */
const deepList = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('answers nested thousands of levels deep', () => {
  it.each([
    ['Prometheus', 'metrics_query', { query: 'up' }],
    ['Alertmanager', 'alerts_list', {}],
    ['Loki', 'logs_list_labels', {}],
  ])('a %s error body of nested lists is its error, not an internal one', async (backend, tool, args) => {
    answerJson(500, deepList(100_000));
    const err = await callError(tool, args, services());
    expect(err.code).toBe('ERR_BACKEND_ERROR');
    expect(err.message).toContain(`${backend} failed on`);
    expect(err.message).toContain('HTTP 500');
    expect(err.message).toContain('nested too deeply');
  });

  it('a Prometheus {status:"error"} whose error is nested objects says Prometheus failed', async () => {
    answerJson(
      422,
      `{"status":"error","errorType":"internal","error":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`,
    );
    const err = await callError('metrics_list_names', {}, services());
    expect(err.code).toBe('ERR_BACKEND_ERROR');
    expect(err.message).toMatch(/^Prometheus failed on the values of label __name__ \(HTTP 422, internal\)/);
  });

  it('a trace whose attribute value nests kvlists thousands deep is listed, the value said to be too deep', async () => {
    // OTLP common.proto: AnyValue holds an ArrayValue or a KeyValueList of AnyValues, to any depth.
    const depth = 5_000;
    const deep = `${'{"kvlistValue":{"values":[{"key":"k","value":'.repeat(depth)}{"stringValue":"x"}${'}]}}'.repeat(depth)}`;
    const traceId = 'ab'.repeat(16);
    const b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
    const span = `{"traceId":"${b64(traceId)}","spanId":"${b64('cd'.repeat(8))}","name":"GET /pay","kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000500000000","attributes":[{"key":"http.route","value":${deep}},{"key":"http.method","value":{"stringValue":"GET"}}],"status":{"code":"STATUS_CODE_ERROR"}}`;
    const body = `{"trace":{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},"scopeSpans":[{"spans":[${span}]}]}]},"metrics":{}}`;
    backends.answer = (req, res) => {
      if (req.url?.startsWith('/api/v2/traces/')) res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      else res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
    };
    const r = await call('traces_get', { traceId }, services());
    expect(r.rootService).toBe('checkout');
    expect(r.spans[0].attributes).toEqual({
      'http.route': '(a value nested too deeply to show)',
      'http.method': 'GET',
    });
  });
});

describe('lone surrogates in listed names', () => {
  // Go's encoding/json never writes one, but a proxy, a compatible store or a hand-written exporter can: JSON
  // allows "\ud800". The cursor carries the last key as UTF-8, where it turned into U+FFFD and the next page
  // started after every name between U+D800 and U+FFFD.
  const names = ['a\ud800', 'a\ue000', 'a\uf000', 'a\udc00z', 'b'];

  it.each([
    ['metrics_list_labels', 'labels'],
    ['logs_list_labels', 'labels'],
  ])('%s pages one at a time through every name, none skipped', async (tool, field) => {
    answerJson(200, JSON.stringify({ status: 'success', data: names }));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await call(tool, { limit: 1, ...(cursor ? { cursor } : {}) }, services());
      seen.push(...page[field]);
      expect(page.note).toBeUndefined();
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect([...seen].sort()).toEqual([...names].sort());
  });

  it('alerts_list_groups pages through receivers that differ only in a lone surrogate', async () => {
    const group = (receiver: string) => ({ labels: { alertname: 'A' }, receiver: { name: receiver }, alerts: [] });
    answerJson(200, JSON.stringify(['r\ud800', 'r\ue000', 'r\udc00', 'r\ufffd'].map(group)));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await call('alerts_list_groups', { limit: 1, ...(cursor ? { cursor } : {}) }, services());
      seen.push(...page.groups.map((g: { receiver: string }) => g.receiver));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toHaveLength(4);
    expect(new Set(seen).size).toBe(4);
  });
});

describe('answers of the wrong type', () => {
  it('a range query answered with a vector is refused, not listed as no series', async () => {
    answerJson(
      200,
      JSON.stringify({
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: { job: 'api' }, value: [1_700_000_000, '5'] }] },
      }),
    );
    const err = await callError('metrics_query_range', { query: 'up', start: 'now-5m', step: '1m' }, services());
    expect(err.code).toBe('ERR_BACKEND_ERROR');
    expect(err.message).toMatch(/^Prometheus answered the range query with a vector, not the matrix/);
  });
});

describe('a write that succeeded, then a read that failed', () => {
  it('alerts_create_silence answers with the silence it created when reading it back fails (no second one made)', async () => {
    const posted: unknown[] = [];
    backends.answer = (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c;
      });
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/api/v2/silences') {
          posted.push(JSON.parse(body));
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end('{"silenceID":"5e1ec7ed-0000-4000-8000-000000000001"}');
          return;
        }
        res.writeHead(503, { 'content-type': 'text/plain' }).end('overloaded');
      });
    };
    const r = await call(
      'alerts_create_silence',
      { matchers: ['alertname="DiskFull"'], author: 'oncall', comment: 'disk swap', duration: '2h' },
      services(),
    );
    expect(posted).toHaveLength(1);
    expect(r.silence).toMatchObject({
      id: '5e1ec7ed-0000-4000-8000-000000000001',
      state: 'active',
      matchers: ['alertname="DiskFull"'],
      createdBy: 'oncall',
      comment: 'disk swap',
    });
    expect(Date.parse(r.silence.endsAt) - Date.parse(r.silence.startsAt)).toBe(2 * 3600_000);
  });
});
