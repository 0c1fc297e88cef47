import type { BackendHttp } from '@ravenhelm/kit';
import { z } from 'zod';
import {
  type BackendOptions,
  expectArray,
  expectObject,
  httpFor,
  LabelSet,
  parseAnswer,
  statusError,
} from './common.js';

export interface AmMatcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual?: boolean;
}

export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  updatedAt?: string;
  fingerprint: string;
  generatorURL?: string;
  receivers: { name: string }[];
  status: { state: 'active' | 'suppressed' | 'unprocessed'; silencedBy: string[]; inhibitedBy: string[] };
}

export interface AmGroup {
  labels: Record<string, string>;
  receiver: { name: string };
  alerts: AmAlert[];
}

export interface AmSilence {
  id: string;
  matchers: AmMatcher[];
  startsAt: string;
  endsAt: string;
  updatedAt?: string;
  createdBy: string;
  comment: string;
  status: { state: 'active' | 'pending' | 'expired' };
}

export interface NewSilence {
  matchers: AmMatcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

/** The fields our readers use, as the v2 OpenAPI spec (api/v2/openapi.yaml) requires them; others pass through. */
const Alert = z.looseObject({
  labels: LabelSet,
  annotations: LabelSet.optional(),
  startsAt: z.string(),
  endsAt: z.string(),
  fingerprint: z.string(),
  receivers: z.array(z.looseObject({ name: z.string() })).optional(),
  status: z.looseObject({
    state: z.enum(['active', 'suppressed', 'unprocessed']),
    silencedBy: z.array(z.string()).optional(),
    inhibitedBy: z.array(z.string()).optional(),
  }),
});

const Group = z.looseObject({
  labels: LabelSet,
  receiver: z.looseObject({ name: z.string() }),
  alerts: z.array(Alert),
});

const Silence = z.looseObject({
  id: z.string(),
  matchers: z.array(
    z.looseObject({ name: z.string(), value: z.string(), isRegex: z.boolean(), isEqual: z.boolean().optional() }),
  ),
  startsAt: z.string(),
  endsAt: z.string(),
  createdBy: z.string(),
  comment: z.string(),
  status: z.looseObject({ state: z.enum(['active', 'pending', 'expired']) }),
});

/** Alertmanager API v2. */
export class AlertmanagerBackend {
  readonly http: BackendHttp;

  constructor(opts: BackendOptions) {
    this.http = httpFor('Alertmanager', opts);
  }

  /** `filter` holds Alertmanager matchers such as `severity="critical"`; the API ANDs them. */
  async alerts(filter: string[], signal?: AbortSignal): Promise<AmAlert[]> {
    const res = await this.http.request('GET', '/api/v2/alerts', { query: { filter }, signal });
    if (res.status !== 200) throw statusError('Alertmanager', res, 'the alert list (check the label matchers)');
    const list = expectArray('Alertmanager', res.body, 'the alert list');
    return parseAnswer('Alertmanager', z.array(Alert), list, 'the alert list') as AmAlert[];
  }

  async groups(filter: string[], signal?: AbortSignal): Promise<AmGroup[]> {
    const res = await this.http.request('GET', '/api/v2/alerts/groups', { query: { filter }, signal });
    if (res.status !== 200) throw statusError('Alertmanager', res, 'the alert groups (check the label matchers)');
    const list = expectArray('Alertmanager', res.body, 'the alert groups');
    return parseAnswer('Alertmanager', z.array(Group), list, 'the alert groups') as AmGroup[];
  }

  async silences(filter: string[], signal?: AbortSignal): Promise<AmSilence[]> {
    const res = await this.http.request('GET', '/api/v2/silences', { query: { filter }, signal });
    if (res.status !== 200) throw statusError('Alertmanager', res, 'the silence list (check the label matchers)');
    const list = expectArray('Alertmanager', res.body, 'the silence list');
    return parseAnswer('Alertmanager', z.array(Silence), list, 'the silence list') as AmSilence[];
  }

  async silence(id: string, signal?: AbortSignal): Promise<AmSilence> {
    const res = await this.http.request('GET', `/api/v2/silence/${encodeURIComponent(id)}`, { signal });
    if (res.status !== 200) throw statusError('Alertmanager', res, `silence ${id}`, 'ERR_INVALID_INPUT');
    const body = expectObject('Alertmanager', res.body, `silence ${id}`);
    return parseAnswer('Alertmanager', Silence, body, `silence ${id}`) as AmSilence;
  }

  async createSilence(silence: NewSilence, signal?: AbortSignal): Promise<string> {
    const res = await this.http.request('POST', '/api/v2/silences', { json: silence, signal });
    if (res.status !== 200) throw statusError('Alertmanager', res, 'the new silence', 'ERR_INVALID_INPUT');
    const id = expectObject('Alertmanager', res.body, 'the new silence').silenceID;
    return String(id);
  }

  async expireSilence(id: string, signal?: AbortSignal): Promise<void> {
    const res = await this.http.request('DELETE', `/api/v2/silence/${encodeURIComponent(id)}`, { signal });
    if (res.status !== 200) throw statusError('Alertmanager', res, `silence ${id}`, 'ERR_INVALID_INPUT');
  }

  async ready(signal?: AbortSignal): Promise<void> {
    const res = await this.http.request('GET', '/-/ready', { signal });
    if (res.status !== 200) throw statusError('Alertmanager', res, 'the readiness check');
  }
}
