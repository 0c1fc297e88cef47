// Runs autocannon with the options given as JSON in argv[2] (client certificates and per-request headers
// included, which the autocannon CLI cannot pass) and prints its result as JSON on stdout.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const o = JSON.parse(process.argv[2]);
const tlsOptions = o.tls
  ? { cert: readFileSync(o.tls.certFile), key: readFileSync(o.tls.keyFile), ca: readFileSync(o.tls.caFile) }
  : undefined;
const requests = o.requests?.map((r) => ({ method: 'POST', body: r.body, headers: { ...o.headers, ...r.headers } }));
const result = await autocannon({
  url: o.url,
  connections: o.concurrency,
  duration: o.maxSeconds,
  timeout: 10,
  method: 'POST',
  body: o.body,
  headers: o.headers,
  ...(requests ? { requests } : {}),
  ...(tlsOptions ? { tlsOptions } : {}),
});
process.stdout.write(JSON.stringify(result));
