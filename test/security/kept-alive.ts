import { Agent, request } from 'node:https';

/**
 * One kept-alive mTLS client on one socket (maxSockets 1): `get()` answers the body and whether the request
 * went over the connection already open, as the bundle-rotation tests need to tell new connections from old.
 */
export function keptAliveClient(port: number, tls: { cert: string; key: string; ca: string[] }) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ...tls });
  const get = () =>
    new Promise<{ body: string; reused: boolean }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ body, reused: req.reusedSocket }));
      });
      req.on('error', reject);
      req.end();
    });
  return { agent, get };
}
