import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  CredentialRequestError,
  credentialProviderResponse,
  goDuration,
  parseCredentialProviderRequest,
} from '#shared/credentials/protocol.ts';

// The exec protocol: requests of the three API versions, precise errors for bad stdin, and responses
// with exactly the fields the kubelet's strict decoder accepts.

const V1 = 'credentialprovider.kubelet.k8s.io/v1';

describe('parseCredentialProviderRequest', () => {
  test('reads all three API versions as the kubelet encodes them', () => {
    for (const version of ['v1', 'v1beta1', 'v1alpha1']) {
      const apiVersion = `credentialprovider.kubelet.k8s.io/${version}`;
      const text = `${JSON.stringify({ kind: 'CredentialProviderRequest', apiVersion, image: 'test.registry.io/foobar' })}\n`;
      assert.deepEqual(parseCredentialProviderRequest(text), {
        apiVersion,
        image: 'test.registry.io/foobar',
      });
    }
  });

  test('v1 carries the service account token and annotations', () => {
    const request = parseCredentialProviderRequest(
      JSON.stringify({
        kind: 'CredentialProviderRequest',
        apiVersion: V1,
        image: '123456789012.dkr.ecr.us-west-2.amazonaws.com/team/api',
        serviceAccountToken: 'header.payload.signature',
        serviceAccountAnnotations: {
          'eks.amazonaws.com/ecr-role-arn': 'arn:aws:iam::123456789012:role/pull',
        },
      }),
    );
    assert.equal(request.serviceAccountToken, 'header.payload.signature');
    assert.deepEqual(request.serviceAccountAnnotations, {
      'eks.amazonaws.com/ecr-role-arn': 'arn:aws:iam::123456789012:role/pull',
    });
  });

  const bad: [string, string, RegExp][] = [
    ['empty stdin', '', /stdin is empty/],
    ['not JSON', '{"kind":', /stdin is not JSON/],
    ['an array', '[]', /not a JSON object/],
    [
      'wrong kind',
      JSON.stringify({ kind: 'Pod', apiVersion: V1, image: 'a/b' }),
      /kind must be CredentialProviderRequest \(got "Pod"\)/,
    ],
    [
      'unsupported version',
      JSON.stringify({
        kind: 'CredentialProviderRequest',
        apiVersion: 'credentialprovider.kubelet.k8s.io/v2',
        image: 'a/b',
      }),
      /apiVersion "credentialprovider\.kubelet\.k8s\.io\/v2" is not supported/,
    ],
    [
      'wrong group',
      JSON.stringify({
        kind: 'CredentialProviderRequest',
        apiVersion: 'foobar.kubelet.k8s.io/v1',
        image: 'a/b',
      }),
      /is not supported/,
    ],
    [
      'missing image',
      JSON.stringify({ kind: 'CredentialProviderRequest', apiVersion: V1 }),
      /image is missing/,
    ],
    [
      'empty image',
      JSON.stringify({ kind: 'CredentialProviderRequest', apiVersion: V1, image: '' }),
      /image is missing/,
    ],
    [
      'image with spaces',
      JSON.stringify({ kind: 'CredentialProviderRequest', apiVersion: V1, image: 'foobar  ' }),
      /white space/,
    ],
    [
      'token not a string',
      JSON.stringify({
        kind: 'CredentialProviderRequest',
        apiVersion: V1,
        image: 'a/b',
        serviceAccountToken: 5,
      }),
      /serviceAccountToken must be a string/,
    ],
  ];
  for (const [name, text, message] of bad) {
    test(`rejects ${name}`, () => {
      assert.throws(
        () => parseCredentialProviderRequest(text),
        (error: Error) => error instanceof CredentialRequestError && message.test(error.message),
      );
    });
  }

  test('never echoes a service account token in an error', () => {
    const secret = 'eyJhbGciOiJSUzI1NiJ9.secret-claims.sig';
    assert.throws(
      () =>
        parseCredentialProviderRequest(
          JSON.stringify({
            kind: 'Nope',
            apiVersion: V1,
            image: 'a/b',
            serviceAccountToken: secret,
          }),
        ),
      (error: Error) =>
        error instanceof CredentialRequestError && !/secret-claims/.test(error.message),
    );
    // A syntax error is reported by position, never by the text around it.
    assert.throws(
      () => parseCredentialProviderRequest(`{"serviceAccountToken":"${secret}" "x"}`),
      (error: Error) =>
        error instanceof CredentialRequestError &&
        /syntax error at byte \d+/.test(error.message) &&
        !/secret-claims/.test(error.message),
    );
  });
});

describe('responses', () => {
  test('exactly the documented fields, in the kubelet order', () => {
    const response = credentialProviderResponse({
      apiVersion: V1,
      cacheKeyType: 'Registry',
      cacheSeconds: 21_600,
      auth: { '*.registry.io': { username: 'user', password: 'password', extra: 'x' } as never },
    });
    assert.equal(
      JSON.stringify(response),
      '{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Registry","cacheDuration":"6h0m0s","auth":{"*.registry.io":{"username":"user","password":"password"}}}',
    );
  });

  const durations: [number, string][] = [
    [0, '0s'],
    [-5, '0s'],
    [0.9, '0s'],
    [1, '1s'],
    [59, '59s'],
    [60, '1m0s'],
    [90, '1m30s'],
    [3600, '1h0m0s'],
    [21_600, '6h0m0s'],
    [43_199, '11h59m59s'],
    [90_000, '25h0m0s'],
  ];
  for (const [seconds, expected] of durations) {
    test(`goDuration(${seconds}) = ${expected}`, () => assert.equal(goDuration(seconds), expected));
  }

  test('property: Go durations read back as the whole seconds written', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (seconds) => {
        const match = /^(?:(\d+)h)?(?:(\d+)m)?(\d+)s$/.exec(goDuration(seconds));
        assert.ok(match);
        const [, h = '0', m = '0', s = '0'] = match;
        assert.equal(Number(h) * 3600 + Number(m) * 60 + Number(s), seconds);
      }),
    );
  });
});
