import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  detectRuntimeEndpoint,
  normalizeRuntimeEndpoint,
  RuntimeEndpointError,
  socketPath,
  WELL_KNOWN_RUNTIME_SOCKETS,
} from '#shared/cri/endpoint.ts';

// Where the container runtime listens: a unix socket named three ways, else crictl's variable, else
// the first well-known socket that exists.

const CONTAINERD = 'unix:///run/containerd/containerd.sock';

describe('normalizeRuntimeEndpoint', () => {
  const accepted: [string, string][] = [
    ['unix:///run/containerd/containerd.sock', CONTAINERD],
    ['unix:/run/containerd/containerd.sock', CONTAINERD],
    ['/run/containerd/containerd.sock', CONTAINERD],
    ['/var/run/crio/crio.sock', 'unix:///var/run/crio/crio.sock'],
  ];
  for (const [given, expected] of accepted) {
    test(`accepts ${given}`, () => {
      assert.equal(normalizeRuntimeEndpoint(given), expected);
      assert.equal(socketPath(given), expected.slice('unix://'.length));
    });
  }

  const refused: [string, string][] = [
    ['a TCP endpoint', 'tcp://127.0.0.1:2375'],
    ['a relative path', 'run/containerd/containerd.sock'],
    ['a relative unix URL', 'unix://run/containerd/containerd.sock'],
    ['a Windows named pipe', 'npipe:////./pipe/containerd-containerd'],
    ['an empty string', ''],
    ['a bare scheme', 'unix://'],
    ['a NUL in the path', '/run/containerd\0/containerd.sock'],
  ];
  for (const [name, given] of refused) {
    test(`refuses ${name}`, () => {
      assert.throws(
        () => normalizeRuntimeEndpoint(given),
        (error: Error) => {
          assert.ok(error instanceof RuntimeEndpointError);
          assert.equal(error.name, 'RuntimeEndpointError');
          assert.equal(
            error.message,
            `runtime endpoint ${JSON.stringify(given)} is not a unix socket path (unix:///run/containerd/containerd.sock)`,
          );
          return true;
        },
      );
    });
  }
});

describe('detectRuntimeEndpoint', () => {
  function existing(...paths: string[]) {
    const asked: string[] = [];
    return {
      asked,
      exists: async (path: string) => {
        asked.push(path);
        return paths.includes(path);
      },
    };
  }

  test('the endpoint given wins over the environment and the sockets', async () => {
    const probe = existing(...WELL_KNOWN_RUNTIME_SOCKETS);
    assert.equal(
      await detectRuntimeEndpoint(
        '/run/k3s/containerd/containerd.sock',
        { CONTAINER_RUNTIME_ENDPOINT: 'unix:///var/run/crio/crio.sock' },
        probe.exists,
      ),
      'unix:///run/k3s/containerd/containerd.sock',
    );
    assert.deepEqual(probe.asked, []);
  });

  test('CONTAINER_RUNTIME_ENDPOINT comes next, normalized', async () => {
    const probe = existing(...WELL_KNOWN_RUNTIME_SOCKETS);
    assert.equal(
      await detectRuntimeEndpoint(
        undefined,
        { CONTAINER_RUNTIME_ENDPOINT: 'unix:/var/run/crio/crio.sock' },
        probe.exists,
      ),
      'unix:///var/run/crio/crio.sock',
    );
    assert.deepEqual(probe.asked, []);
  });

  test('an empty CONTAINER_RUNTIME_ENDPOINT is as good as unset', async () => {
    const probe = existing('/run/crio/crio.sock');
    assert.equal(
      await detectRuntimeEndpoint(undefined, { CONTAINER_RUNTIME_ENDPOINT: '' }, probe.exists),
      'unix:///run/crio/crio.sock',
    );
  });

  test('a bad endpoint given is refused, not replaced by a detected one', async () => {
    await assert.rejects(
      detectRuntimeEndpoint('tcp://localhost:1234', {}, existing(CONTAINERD).exists),
      RuntimeEndpointError,
    );
    await assert.rejects(
      detectRuntimeEndpoint(
        undefined,
        { CONTAINER_RUNTIME_ENDPOINT: 'npipe:////./pipe/x' },
        existing('/run/containerd/containerd.sock').exists,
      ),
      RuntimeEndpointError,
    );
  });

  test('otherwise the first well-known socket that exists, in order', async () => {
    const probe = existing('/run/k3s/containerd/containerd.sock', '/run/crio/crio.sock');
    assert.equal(
      await detectRuntimeEndpoint(undefined, {}, probe.exists),
      'unix:///run/crio/crio.sock',
    );
    assert.deepEqual(probe.asked, [
      '/run/containerd/containerd.sock',
      '/var/run/containerd/containerd.sock',
      '/run/crio/crio.sock',
    ]);
  });

  test('containerd comes before CRI-O when both exist', async () => {
    const probe = existing('/var/run/crio/crio.sock', '/var/run/containerd/containerd.sock');
    assert.equal(
      await detectRuntimeEndpoint(undefined, {}, probe.exists),
      'unix:///var/run/containerd/containerd.sock',
    );
  });

  test('none found: the error lists every path looked at and how to name one', async () => {
    const probe = existing();
    await assert.rejects(detectRuntimeEndpoint(undefined, {}, probe.exists), (error: Error) => {
      assert.ok(error instanceof RuntimeEndpointError);
      for (const path of WELL_KNOWN_RUNTIME_SOCKETS) assert.ok(error.message.includes(path), path);
      assert.match(error.message, /--runtime-endpoint/);
      assert.match(error.message, /prePull\.runtimeEndpoint/);
      return true;
    });
    assert.deepEqual(probe.asked, [...WELL_KNOWN_RUNTIME_SOCKETS]);
  });
});
