#!/usr/bin/env node
import { runMain } from '@ravenhelm/kit';
import { traefikServer } from './index.js';

await runMain(traefikServer);
