/**
 * The prelude the observability attack rounds share: one fake on loopback standing in for Prometheus,
 * Alertmanager, Loki and Tempo at once, started for the file, answering as the test in progress says.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll } from 'vitest';
import { type Listening, listen } from '../observability/fixture.js';
import { makeServices } from '../observability/harness.js';

export type Answer = (req: IncomingMessage, res: ServerResponse) => void;

export interface FakeBackends {
  /** How the fake answers every request: each test sets its own. */
  answer: Answer;
  /** Services whose four backends are the fake, each with a 5 s timeout. */
  services(): ReturnType<typeof makeServices>;
  /** Answers every request with this status and JSON text (written as is: it need not be what JSON.stringify makes). */
  answerJson(status: number, text: string): void;
}

export function useFakeBackends(): FakeBackends {
  let fake: Listening | undefined;
  const backends: FakeBackends = {
    answer: (_req, res) => {
      res.writeHead(500).end('no answer set');
    },
    services: () => {
      if (!fake) throw new Error('the fake backend is not started (read it inside a test)');
      const url = fake.url;
      return makeServices({
        prometheus: { url, timeoutMs: 5_000 },
        alertmanager: { url, timeoutMs: 5_000 },
        loki: { url, timeoutMs: 5_000 },
        tempo: { url, timeoutMs: 5_000 },
      });
    },
    answerJson: (status, text) => {
      backends.answer = (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(text);
      };
    },
  };
  beforeAll(async () => {
    fake = await listen((req, res) => backends.answer(req, res));
  });
  afterAll(async () => {
    await fake?.close();
  });
  return backends;
}
