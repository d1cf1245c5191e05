// Interop with the official bullmq 5.81.x (the `bullmq5` devDependency,
// npm:bullmq@5.81.3), both directions, on one Redis: see support/interop.mjs.
import * as bullmq from 'bullmq5';

import { interopSuite } from './support/interop.mjs';

interopSuite(bullmq, 'bullmq5');
