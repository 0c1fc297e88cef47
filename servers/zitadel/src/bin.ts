#!/usr/bin/env node
import { runMain } from '@ravenhelm/kit';
import { zitadelServer } from './index.js';

await runMain(zitadelServer);
