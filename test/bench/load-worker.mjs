// Runs autocannon with the options given in the JSON file named by argv[2] (client certificates and per-request headers
// included, which the autocannon CLI cannot pass) and prints its result as JSON on stdout.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const o = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const tlsOptions = o.tls
  ? { cert: readFileSync(o.tls.certFile), key: readFileSync(o.tls.keyFile), ca: readFileSync(o.tls.caFile) }
  : undefined;
const requests = o.requests?.map((r) => ({ method: 'POST', body: r.body, headers: { ...o.headers, ...r.headers } }));
// Each connection starts at its own offset in the request list, so that the connections spread over the
// list (distinct principals at once) instead of marching through it in lockstep.
let nextClient = 0;
const setupClient = requests
  ? (client) => {
      const offset = Math.floor((nextClient++ * requests.length) / o.concurrency) % requests.length;
      client.setRequests([...requests.slice(offset), ...requests.slice(0, offset)]);
    }
  : undefined;
const result = await autocannon({
  url: o.url,
  connections: o.concurrency,
  duration: o.maxSeconds,
  timeout: 10,
  method: 'POST',
  body: o.body,
  headers: o.headers,
  ...(requests ? { requests, setupClient } : {}),
  ...(tlsOptions ? { tlsOptions } : {}),
});
process.stdout.write(JSON.stringify(result));
