/**
 * The native module, loaded through the napi-rs generated loader (index.js at
 * the package root). Only the facade imports this file.
 */
import type * as Native from '../index';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const binding: typeof Native = require('../../index.js');
export type { Native };
