import { describe, expect, it } from 'vitest';
import {
  type AwsCallOptions,
  awsClientConfig,
  awsServiceMessage,
  awsToolError,
  callAws,
  capAwsResponses,
} from './aws-call.js';
import { scrubSteps, ToolError } from './errors.js';

const opts: AwsCallOptions = {
  service: 'Secrets Manager',
  timeoutMs: 50,
  timeoutHint: '; retry',
  endpoint: 'http://127.0.0.1:1',
  unreachableHint: 'check the endpoint',
  errors: { ResourceNotFoundException: { code: 'ERR_NOT_FOUND', hint: 'list them first' } },
  serviceErrors: ['ResourceExistsException'],
  scrub: (m) => m.split('hunter2-secret').join('[redacted]'),
};
const calm = { timedOut: false, cancelled: false };

/** An error shaped like the AWS SDK v3's service exceptions. */
function awsError(name: string, message: string, status?: number): Error {
  return Object.assign(new Error(message), {
    name,
    ...(status !== undefined ? { $metadata: { httpStatusCode: status } } : {}),
  });
}

describe('awsToolError', () => {
  it('maps a known service error to its code and hint, scrubbing the message', () => {
    const e = awsToolError(
      'read "db"',
      awsError('ResourceNotFoundException', 'no hunter2-secret here', 400),
      calm,
      opts,
    );
    expect(e.code).toBe('ERR_NOT_FOUND');
    expect(e.message).toBe('could not read "db": ResourceNotFoundException (no [redacted] here); list them first');
    expect(e.details).toEqual({ awsError: 'ResourceNotFoundException', status: 400 });
  });

  it('treats an unknown error with a status as the service answering: 5xx unavailable, 4xx error', () => {
    expect(awsToolError('x', awsError('Throttling', 'slow', 503), calm, opts).code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(awsToolError('x', awsError('Weird', 'no', 400), calm, opts).code).toBe('ERR_BACKEND_ERROR');
  });

  it('passes a listed service error through by name even without a status', () => {
    const e = awsToolError('create "k"', awsError('ResourceExistsException', 'exists'), calm, opts);
    expect(e.details).toEqual({ awsError: 'ResourceExistsException' });
    expect(awsToolError('x', awsError('OtherException', 'no status'), calm, opts).code).toBe('ERR_BACKEND_UNAVAILABLE');
  });

  it('says cancelled, timed out, missing credentials and unreachable in words an operator can act on', () => {
    expect(awsToolError('x', new Error('any'), { timedOut: false, cancelled: true }, opts).code).toBe('ERR_CANCELLED');
    expect(awsToolError('read "a"', new Error('any'), { timedOut: true, cancelled: false }, opts).message).toBe(
      'Secrets Manager did not answer within 50 ms while trying to read "a"; retry',
    );
    expect(awsToolError('x', awsError('CredentialsProviderError', 'none'), calm, opts).message).toMatch(
      /no AWS credentials/,
    );
    const down = awsToolError('x', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), calm, opts);
    expect(down.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(down.message).toBe(
      'could not x: Secrets Manager at http://127.0.0.1:1 is unreachable (ECONNREFUSED); check the endpoint',
    );
  });
});

describe("awsToolError: the values a call carried, out of the service's message and error name", () => {
  const VALUE = 'Zq7-Horse-Battery-Staple-9xK2-Tr0ub4dor-kit';
  const carrying: AwsCallOptions = { ...opts, sensitive: [VALUE] };
  /** Every 8-character piece of the value the text holds, by offset. */
  const piecesIn = (text: string, value = VALUE) =>
    Array.from({ length: value.length - 7 }, (_, i) => value.slice(i, i + 8)).filter((p) => text.includes(p));

  it('cuts a quoted part of the value (its first 24 characters) out of the message', () => {
    const e = awsToolError(
      'store "db"',
      awsError('ValidationException', `Value '${VALUE.slice(0, 24)}...' at 'secretString' failed`, 400),
      calm,
      carrying,
    );
    expect(e.message).toBe(
      "could not store \"db\": ValidationException (Value '[redacted]...' at 'secretString' failed)",
    );
    expect(piecesIn(e.message)).toEqual([]);
  });

  it('replaces an error name that repeats the value (or a piece of it), whole, in the message and details', () => {
    for (const name of [VALUE, `X${VALUE.slice(3, 20)}Exception`]) {
      const e = awsToolError('store "db"', awsError(name, 'no', 400), calm, carrying);
      expect(e.code).toBe('ERR_BACKEND_ERROR');
      expect(e.message).toBe(
        'could not store "db": Secrets Manager answered an error whose name repeats part of a value the call carried, or is no AWS error name (not shown); nothing was stored. Check that the endpoint is Secrets Manager and that no proxy in between alters answers',
      );
      expect(e.details).toEqual({ awsError: 'InvalidResponse', status: 400 });
    }
    // a caller's own scrub (no `sensitive`) decides for the name too
    const scrubbed = awsToolError('x', awsError('hunter2-secret', 'no', 400), calm, opts);
    expect(JSON.stringify([scrubbed.message, scrubbed.details])).not.toContain('hunter2-secret');
  });

  it('keeps a name the table lists even when the value holds it', () => {
    const e = awsToolError('x', awsError('ResourceNotFoundException', 'gone', 400), calm, {
      ...opts,
      sensitive: ['ResourceNotFoundException-is-my-Passw0rd!'],
    });
    expect(e.message).toBe('could not x: ResourceNotFoundException (gone); list them first');
  });

  it('does not show the name of the last answer before a deadline when it repeats the value', () => {
    const e = awsToolError(
      'store "db"',
      new Error('aborted'),
      { timedOut: true, cancelled: false, lastAnswer: { status: 500, error: VALUE } },
      carrying,
    );
    expect(e.code).toBe('ERR_BACKEND_TIMEOUT');
    expect(e.message).toContain('its last answer was HTTP 500 (an error whose name repeats part of a value');
    expect(piecesIn(JSON.stringify([e.message, e.details]))).toEqual([]);
  });

  it('reads an error name like "constructor" as a name, not as a member of the error table', () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty']) {
      const e = awsToolError('x', awsError(name, 'odd', 400), calm, opts);
      expect(e.message).toBe(`could not x: ${name} (odd)`);
      expect(e.code).toBe('ERR_BACKEND_ERROR');
    }
  });

  it('cuts a value that crosses the end of the part of a long message it reads', () => {
    const long = `${'L'.repeat(20_000)}${VALUE}`.repeat(4).slice(0, 65_530);
    const message = `${long} ${VALUE} tail`;
    const said = awsServiceMessage(message, { sensitive: [long, VALUE] });
    expect(said).toBe('[redacted] [redacted]');
    expect(piecesIn(said)).toEqual([]);
  });

  it('a 64 KiB message against a 64 KiB value in linear steps (counted, not timed), clipped to 300 characters', () => {
    /** Scrubbing a message of about n characters quoting most of a value of n: the steps it took. */
    const stepsFor = (n: number) => {
      const value = Array.from({ length: n }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join('');
      const message = `${value.slice(1, (n * 5) / 8)} / ${'y'.repeat((n * 3) / 8)}`;
      const before = scrubSteps();
      const said = awsServiceMessage(message, { sensitive: [value] });
      expect(said).toBe(`[redacted] / ${'y'.repeat(287)}`);
      return scrubSteps() - before;
    };
    const small = stepsFor(16_384);
    const large = stepsFor(65_536);
    // four times the text and value, about four times the steps (a quadratic scan: sixteen times)
    expect(large / small).toBeLessThan(5);
    expect(large / (2 * 65_536)).toBeLessThan(40);
  });
});

describe('callAws', () => {
  it('aborts a command that outlives its own deadline and reports the timeout', async () => {
    const never = (signal: AbortSignal) =>
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    const err = await callAws('wait', new AbortController().signal, never, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).code).toBe('ERR_BACKEND_TIMEOUT');
  });

  it("reports the caller's cancellation as cancelled, not as a timeout", async () => {
    const caller = new AbortController();
    const pending = callAws(
      'wait',
      caller.signal,
      (signal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
      { ...opts, timeoutMs: 10_000 },
    );
    caller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CANCELLED' });
  });

  it('returns the result of a command that succeeds', async () => {
    await expect(callAws('ok', new AbortController().signal, async () => 42, opts)).resolves.toBe(42);
  });
});

describe('awsClientConfig', () => {
  it('leaves region and endpoint to the SDK unless set, and keeps socket timeouts inside the call timeout', () => {
    expect(awsClientConfig({ maxAttempts: 2, timeoutMs: 3000 })).toEqual({
      maxAttempts: 2,
      requestHandler: { requestTimeout: 3000, connectionTimeout: 3000 },
    });
    expect(
      awsClientConfig({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:4566', maxAttempts: 1, timeoutMs: 20_000 }),
    ).toEqual({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:4566',
      maxAttempts: 1,
      requestHandler: { requestTimeout: 20_000, connectionTimeout: 5000 },
    });
  });
});

describe('capAwsResponses', () => {
  /** A middleware stack that records the one middleware added, and a handler answering `body`. */
  function clientAnswering(body: () => AsyncIterable<Uint8Array>, headers: Record<string, string> = {}) {
    let mw: ((next: (a: unknown) => Promise<{ response: unknown }>) => (a: unknown) => Promise<unknown>) | undefined;
    const client = capAwsResponses(
      {
        middlewareStack: {
          add: (m: typeof mw) => {
            mw = m;
          },
        },
      },
      {
        maxBytes: 1000,
        service: 'Secrets Manager',
        hint: 'check the endpoint',
      },
    );
    expect(client.middlewareStack).toBeDefined();
    return (mw as NonNullable<typeof mw>)(async () => ({ response: { body: body(), headers } }));
  }

  it('hands on an answer under the cap as a stream the SDK can read', async () => {
    const out = (await clientAnswering(async function* () {
      yield Buffer.from('{"a":');
      yield Buffer.from('1}');
    })({})) as { response: { body: AsyncIterable<Buffer> } };
    const parts: Buffer[] = [];
    for await (const c of out.response.body) parts.push(c);
    expect(Buffer.concat(parts).toString()).toBe('{"a":1}');
  });

  it('refuses an endless answer once past the cap, and a declared length over it at once', async () => {
    let pulled = 0;
    const endless = clientAnswering(async function* () {
      for (;;) {
        pulled++;
        yield Buffer.alloc(300);
      }
    });
    await expect(endless({})).rejects.toThrow(
      /^Secrets Manager answered with more than 1,000 bytes; reading stopped there\. check the endpoint$/,
    );
    expect(pulled).toBe(4);
    const declared = clientAnswering(async function* () {}, { 'content-length': '5000' });
    await expect(declared({})).rejects.toMatchObject({ code: 'ERR_OUTPUT_TOO_LARGE' });
  });

  it('marks a body that broke mid-read so the error says the connection broke', async () => {
    const broken = clientAnswering(async function* () {
      yield Buffer.from('{"a":');
      throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    });
    const err = await broken({}).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('ECONNRESET');
    const e = awsToolError('list secrets', err, calm, opts);
    expect(e.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(e.message).toMatch(
      /^the connection to Secrets Manager at http:\/\/127\.0\.0\.1:1 broke while its answer was read \(ECONNRESET\)/,
    );
  });
});
