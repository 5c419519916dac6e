import manifest from '../package.json' with { type: 'json' };

/** The released version, read from package.json so that source runs and bundles agree. */
export const PULLWARDEN_VERSION: string = manifest.version;
