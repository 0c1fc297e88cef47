#!/usr/bin/env node
import { runMain } from '@ravenhelm/kit';
import { secretsServer } from './index.js';

await runMain(secretsServer);
