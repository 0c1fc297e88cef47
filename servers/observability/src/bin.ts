#!/usr/bin/env node
import { runMain } from '@ravenhelm/kit';
import { observabilityServer } from './index.js';

await runMain(observabilityServer);
