/**
 * The version the bundler wrote into the host (scripts/bundle-host.mjs), or
 * null when running from a checkout, where package.json says it.
 */
declare const __DATARUS_VERSION__: string | undefined;

export const BUNDLED_VERSION: string | null = typeof __DATARUS_VERSION__ === 'string' ? __DATARUS_VERSION__ : null;
