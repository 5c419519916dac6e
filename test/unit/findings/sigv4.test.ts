import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultCredentials, isAwsHost, signingRegion, signRequest } from '#cmd/cli/sigv4.ts';

// The request signing `pullwarden findings` uses for IAM-authorised routes, checked against AWS's
// Signature Version 4 test suite (get-vanilla, get-vanilla-query-order-key-case).

const SUITE = {
  credentials: {
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  },
  region: 'us-east-1',
  service: 'service',
  signingDate: new Date('2015-08-30T12:36:00Z'),
};
const SUITE_SCOPE = 'AKIDEXAMPLE/20150830/us-east-1/service/aws4_request';

describe('signRequest', () => {
  test('get-vanilla', async () => {
    const headers = await signRequest(
      { method: 'GET', url: new URL('https://example.amazonaws.com/'), headers: {} },
      SUITE,
    );
    assert.deepEqual(headers, {
      'x-amz-date': '20150830T123600Z',
      authorization:
        `AWS4-HMAC-SHA256 Credential=${SUITE_SCOPE}, SignedHeaders=host;x-amz-date, ` +
        'Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    });
  });

  test('get-vanilla-query-order-key-case: the query is signed in canonical order', async () => {
    const headers = await signRequest(
      {
        method: 'GET',
        url: new URL('https://example.amazonaws.com/?Param2=value2&Param1=value1'),
        headers: {},
      },
      SUITE,
    );
    assert.match(
      headers.authorization ?? '',
      /Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500$/,
    );
  });

  test('signs the headers it is given, and a session token', async () => {
    const headers = await signRequest(
      {
        method: 'GET',
        url: new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/v1/findings?status=all'),
        headers: { accept: 'application/json' },
      },
      { ...SUITE, credentials: { ...SUITE.credentials, sessionToken: 'session-token' } },
    );
    assert.equal(headers.accept, 'application/json');
    assert.equal(headers['x-amz-security-token'], 'session-token');
    assert.match(
      headers.authorization ?? '',
      /SignedHeaders=accept;host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
    assert.ok(!('host' in headers), 'fetch sets Host from the URL');
  });
});

describe('signingRegion and isAwsHost', () => {
  const env = { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'ap-south-1' };
  const cases: [string, Record<string, string>, string | undefined][] = [
    ['https://abc123.execute-api.eu-west-1.amazonaws.com/prod', env, 'eu-west-1'],
    ['https://api.example.com', env, 'us-east-1'],
    ['https://api.example.com', { AWS_DEFAULT_REGION: 'ap-south-1' }, 'ap-south-1'],
    ['https://api.example.com', { AWS_REGION: ' ' }, undefined],
    ['http://127.0.0.1:4566', {}, undefined],
  ];
  for (const [url, environment, region] of cases) {
    test(`${url} with ${JSON.stringify(environment)} → ${region}`, () => {
      assert.equal(signingRegion(new URL(url), environment), region);
    });
  }

  test('only *.amazonaws.com hosts are AWS hosts', () => {
    assert.equal(isAwsHost(new URL('https://abc.execute-api.eu-west-1.amazonaws.com')), true);
    assert.equal(isAwsHost(new URL('https://amazonaws.com.example.org')), false);
    assert.equal(isAwsHost(new URL('http://localhost:3000')), false);
  });
});

describe('defaultCredentials', () => {
  test('takes keys from the given environment first', async () => {
    assert.deepEqual(
      await defaultCredentials({ AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'secret' }),
      { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    );
    assert.deepEqual(
      await defaultCredentials({
        AWS_ACCESS_KEY_ID: 'ASIATEST',
        AWS_SECRET_ACCESS_KEY: 'secret',
        AWS_SESSION_TOKEN: 'token',
      }),
      { accessKeyId: 'ASIATEST', secretAccessKey: 'secret', sessionToken: 'token' },
    );
  });
});
