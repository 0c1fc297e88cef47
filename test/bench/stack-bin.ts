/**
 * The server the full-stack throughput benchmark drives: the real bin path (`runMain`: configuration from
 * the environment, OAuth, registry, rate limit, file audit, metrics, optional mTLS) serving no-op tools.
 * With BENCH_CPU_PROFILE_DIR set it profiles itself (node --cpu-prof cannot be set through NODE_OPTIONS)
 * and writes the V8 CPU profile there when the server has shut down.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { runMain } from '@ravenhelm/kit';
import { stackServer } from './stack-server.js';

const profileDir = process.env.BENCH_CPU_PROFILE_DIR;
const session = profileDir ? new Session() : undefined;
if (session) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
}
await runMain(stackServer);
if (session && profileDir) {
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(join(profileDir, `stack-${process.pid}.cpuprofile`), JSON.stringify(profile));
}
