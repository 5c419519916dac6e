import type { NodeConfig } from '#shared/credentials/node-config.ts';
import type { RegistryCredential } from '#shared/credentials/protocol.ts';
import { provideCredentials } from '#shared/credentials/provide.ts';
import { Keyring } from '#shared/kubelet/keyring.ts';

// The credentials the kubelet would get for an image, obtained in-process from the node config's
// credential sources: the same answer `credential-provider` gives, matched to the image with the
// kubelet's keyring rules. They go to the runtime inside the CRI request and nowhere else.

export type CredentialLookup = (imageName: string) => Promise<RegistryCredential | undefined>;

/** `imageName`: `registry/repository`, the form the kubelet hands its credential providers. */
export function nodeCredentials(
  config: NodeConfig,
  warn: (line: string) => void,
): CredentialLookup {
  return async (imageName) => {
    const { response } = await provideCredentials(
      { apiVersion: 'credentialprovider.kubelet.k8s.io/v1', image: imageName },
      config,
      warn,
    );
    const keyring = new Keyring<RegistryCredential>();
    keyring.add(Object.entries(response.auth));
    return keyring.lookup(imageName).entries[0]?.value;
  };
}
