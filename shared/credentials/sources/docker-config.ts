import { Keyring } from '#shared/kubelet/keyring.ts';
import type { CredentialSource, MintedCredential } from '../answer.ts';
import type { RegistryCredential } from '../protocol.ts';

// A static docker `config.json`, read on every exec (a local file: nothing to cache) and matched with the
// kubelet's own keyring rules, so it answers exactly what the kubelet would have found in it.

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
}

function credentialOf(entry: AuthEntry): RegistryCredential | undefined {
  if (
    typeof entry.username === 'string' &&
    typeof entry.password === 'string' &&
    entry.username !== ''
  ) {
    return { username: entry.username, password: entry.password };
  }
  if (typeof entry.auth !== 'string') return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon <= 0
    ? undefined
    : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function dockerConfigSource(path: string, imageName: string): CredentialSource {
  return {
    cacheKey: `docker-config|${path}`,
    authKeys: [],
    description: `docker config ${path}`,
    cacheable: false,
    retryable: () => false,
    async mint(): Promise<MintedCredential> {
      let config: { auths?: Record<string, AuthEntry> };
      try {
        config = JSON.parse(
          await process.getBuiltinModule('node:fs').promises.readFile(path, 'utf8'),
        ) as typeof config;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new Error(code === undefined ? 'it is not JSON' : `cannot read it (${code})`);
      }
      const keyring = new Keyring<RegistryCredential>();
      keyring.add(
        Object.entries(config.auths ?? {}).flatMap(([key, entry]) => {
          const credential = credentialOf(entry);
          return credential === undefined ? [] : [[key, credential] as const];
        }),
      );
      const found = keyring.lookup(imageName).entries[0];
      if (found === undefined) throw new Error(`no auths entry matches ${imageName}`);
      return { ...found.value, authKeys: [found.storedKey] };
    },
  };
}
