#!/usr/bin/env node
import { runMain } from '@ravenhelm/kit';
import { gitlabServer } from './index.js';

await runMain(gitlabServer);
