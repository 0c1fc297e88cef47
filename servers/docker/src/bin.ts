#!/usr/bin/env node
import { runMain } from '@ravenhelm/kit';
import { dockerServer } from './index.js';

await runMain(dockerServer);
