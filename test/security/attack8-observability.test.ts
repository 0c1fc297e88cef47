/**
 * Eighth attack round on the observability server, from outside: backend answers a current vendor release sends
 * (from its source) and hostile arguments, through the tools as the server runs them, against fakes on loopback.
 * Probed and found sound: regexes RE2 refuses to nest past 1,000 repeats (`(a{1000}){1000}` never reaches the
 * silence guard), rule and series keys with lone surrogates and duplicate label sets (distinct keys).
 */
import { describe, expect, it } from 'vitest';
import { call, callError } from '../observability/harness.js';
import { useFakeBackends } from './observability-fakes.js';

const backends = useFakeBackends();
const { services, answerJson } = backends;

const alerting = (name: string, state: string, health = 'ok') => ({
  type: 'alerting',
  name,
  query: 'up == 0',
  duration: 0,
  labels: {},
  annotations: {},
  alerts: [],
  health,
  state,
  evaluationTime: 0,
  lastEvaluation: '0001-01-01T00:00:00Z',
});

describe('answers of a current Prometheus', () => {
  it('alerts_list_rules counts an alerting rule Prometheus 3 reports "unknown" (not evaluated yet) as inactive', async () => {
    // prometheus/prometheus rules/alerting.go: State() is StateUnknown ("unknown") until the rule's first
    // evaluation; Prometheus 2 said "inactive" (health "unknown") for the same rule. Every rule must be counted.
    answerJson(
      200,
      JSON.stringify({
        status: 'success',
        data: {
          groups: [
            {
              name: 'g',
              file: '/etc/prometheus/rules.yml',
              interval: 60,
              rules: [
                alerting('Fresh', 'unknown', 'unknown'),
                alerting('AlsoFresh', 'unknown', 'unknown'),
                alerting('Firing', 'firing'),
                alerting('Quiet', 'inactive'),
              ],
            },
          ],
        },
      }),
    );
    const all = await call('alerts_list_rules', {}, services());
    expect(all.total).toBe(4);
    expect(all.counts).toEqual({ firing: 1, pending: 0, inactive: 3, recording: 0, err: 0 });
    // the rule still says what Prometheus said
    expect(all.rules.find((r: { name: string }) => r.name === 'Fresh').state).toBe('unknown');
    const inactive = await call('alerts_list_rules', { state: ['inactive'] }, services());
    expect(inactive.rules.map((r: { name: string }) => r.name).sort()).toEqual(['AlsoFresh', 'Fresh', 'Quiet']);
  });
});

describe('hostile silence matchers', () => {
  it('a regex that repeats to a million steps is refused at once, before any backend call', async () => {
    // (x{970}){1000} is a 1,000-char matcher whose repeats RE2 allows: re2js compiled it into a million
    // instructions (4.4 s of one core here, per matcher, 20 matchers a call, on a LOW tool too), and the silence
    // guard then listed its one value, a 970,000-character string built a thousand times over (13 s more).
    const requests: string[] = [];
    backends.answer = (req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.writeHead(500).end();
    };
    const started = Date.now();
    const matchers = [`alertname=~"(${'x'.repeat(970)}){1000}"`];
    const list = await callError('alerts_list', { matchers }, services());
    expect(list.code).toBe('ERR_INVALID_INPUT');
    expect(list.message).toMatch(/steps long, over 5000: use fewer or smaller \{n\} repeats/);
    const create = await callError(
      'alerts_create_silence',
      { matchers, author: 'a', comment: 'huge', duration: '1h' },
      services(),
    );
    expect(create.code).toBe('ERR_INVALID_INPUT');
    expect(Date.now() - started).toBeLessThan(1500);
    expect(requests).toEqual([]);
  });

  it('open regexes that pass every probe of the old guard are refused; a list of exact values is sent as written', async () => {
    const posted: unknown[] = [];
    backends.answer = (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        if (req.method === 'POST') {
          posted.push(JSON.parse(body));
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end('{"silenceID":"0d8b6a3a-7d3c-4d1e-9a5b-1c2d3e4f5a6b"}');
          return;
        }
        res.writeHead(500).end();
      });
    };
    const base = { author: 'a', comment: 'probe', duration: '1h' };
    for (const matcher of ['alertname=~"[A-Z][A-Za-z0-9]*"', 'job=~"[a-z]+(-[a-z]+)*"', 'alertname=~"[^a-z].*"']) {
      const err = await callError('alerts_create_silence', { ...base, matchers: [matcher] }, services());
      expect(err.code, matcher).toBe('ERR_INVALID_INPUT');
    }
    expect(posted).toEqual([]);
    const ok = await call('alerts_create_silence', { ...base, matchers: ['alertname=~"Disk(Full|Slow)"'] }, services());
    expect(ok.silence.matchers).toEqual(['alertname=~"Disk(Full|Slow)"']);
    expect(posted).toMatchObject([{ matchers: [{ name: 'alertname', value: 'Disk(Full|Slow)', isRegex: true }] }]);
  });
});

describe('silences Alertmanager holds', () => {
  it('alerts_list_silences by labels does not compile a silence regex that repeats to a million steps', async () => {
    // Alertmanager accepts (x{970}){1000} (its Go RE2 allows the repeats); one such silence, written through its
    // API or amtool, cost 4.4 s of the event loop on every alerts_list_silences call with labels.
    const silence = (id: string, matchers: object[]) => ({
      id,
      matchers,
      startsAt: '2026-01-01T00:00:00.000Z',
      endsAt: '2099-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      createdBy: 'someone',
      comment: 'c',
      status: { state: 'active' },
    });
    const huge = `(${'x'.repeat(970)}){1000}`;
    answerJson(
      200,
      JSON.stringify([
        silence('11111111-1111-1111-1111-111111111111', [
          { name: 'alertname', value: 'DiskFull', isRegex: false, isEqual: true },
          { name: 'host', value: huge, isRegex: true, isEqual: true },
        ]),
        silence('22222222-2222-2222-2222-222222222222', [
          { name: 'alertname', value: 'Other', isRegex: false, isEqual: true },
          { name: 'host', value: huge, isRegex: true, isEqual: true },
        ]),
        silence('33333333-3333-3333-3333-333333333333', [
          { name: 'alertname', value: 'Disk.*', isRegex: true, isEqual: true },
        ]),
      ]),
    );
    const started = Date.now();
    const res = await call('alerts_list_silences', { labels: { alertname: 'DiskFull', host: 'db1' } }, services());
    expect(Date.now() - started).toBeLessThan(1500);
    // the other matchers still decide: "Other" cannot mute DiskFull, whatever its regex
    expect(res.silences.map((s: { id: string }) => s.id).sort()).toEqual([
      '11111111-1111-1111-1111-111111111111',
      '33333333-3333-3333-3333-333333333333',
    ]);
    expect(res.cut).toEqual([
      '1 silence(s) listed may not mute these labels: a regex of theirs repeats past 5000 steps and is not evaluated here; read their matchers',
    ]);
  });
});
