// Interop with the official bullmq 6.x (the `bullmq` devDependency), both
// directions, on one Redis: see support/interop.mjs.
import * as bullmq from 'bullmq';

import { interopSuite } from './support/interop.mjs';

interopSuite(bullmq, 'bullmq6');
