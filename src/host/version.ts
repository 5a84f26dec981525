/**
 * The version the bundler wrote into the host (scripts/bundle-host.mjs), or
 * null when running from a checkout, where package.json says it.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

declare const __DATARUS_VERSION__: string | undefined;

export const BUNDLED_VERSION: string | null = typeof __DATARUS_VERSION__ === 'string' ? __DATARUS_VERSION__ : null;

/** The host's version: the bundled one, else the checkout's package.json. */
export const HOST_VERSION: string = BUNDLED_VERSION ?? JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version;
