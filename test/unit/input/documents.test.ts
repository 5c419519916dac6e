import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { InputProblem } from '#shared/drift/model.ts';
import type { ByteSource } from '#shared/input/byte-source.ts';
import type { DocumentSink, InputDocument } from '#shared/input/documents.ts';
import { readJsonDocuments } from '#shared/input/json-documents.ts';
import { projection } from '#shared/input/json-projection.ts';
import { readYamlDocuments } from '#shared/input/yaml-documents.ts';

/** A source that hands out the bytes in the given chunk sizes (cycled), to exercise every boundary. */
function chunkedSource(text: string, sizes: readonly number[] = [1 << 20]): ByteSource {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  let turn = 0;
  return {
    size: bytes.length,
    async read(buffer, at, length) {
      const size = Math.min(length, sizes[turn++ % sizes.length] ?? 1, bytes.length - offset);
      bytes.copy(buffer, at, offset, offset + size);
      offset += size;
      return size;
    },
    async close() {},
  };
}

interface Collected {
  documents: InputDocument[];
  problems: InputProblem[];
}

function collector(): Collected & DocumentSink {
  const documents: InputDocument[] = [];
  const problems: InputProblem[] = [];
  return {
    documents,
    problems,
    document: (document) => documents.push(document),
    problem: (problem) => problems.push(problem),
  };
}

const everything = projection({ '*': true });
const imagePositions = projection({
  kind: true,
  metadata: { name: true },
  spec: { containers: projection({ name: true, image: true }, { positions: ['image'] }) },
});

async function readJson(
  text: string,
  sizes?: readonly number[],
  selection = everything,
): Promise<Collected> {
  const sink = collector();
  await readJsonDocuments(chunkedSource(text, sizes), 'input.json', selection, sink);
  return sink;
}

async function readYaml(text: string, sizes?: readonly number[]): Promise<Collected> {
  const sink = collector();
  await readYamlDocuments(chunkedSource(text, sizes), 'input.yaml', sink);
  return sink;
}

const pod = (name: string, image = 'nginx:1.27') => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'web' },
  spec: { containers: [{ name: 'app', image }] },
});

describe('readJsonDocuments', () => {
  test('a single object is one document with an empty item path', async () => {
    const { documents, problems } = await readJson(JSON.stringify(pod('a')));
    assert.deepEqual(problems, []);
    assert.equal(documents.length, 1);
    assert.deepEqual(documents[0]?.value, pod('a'));
    assert.deepEqual(documents[0]?.source, { file: 'input.json', document: 1, itemPath: '' });
  });

  test('List items become documents numbered by their item path', async () => {
    const list = {
      apiVersion: 'v1',
      items: [pod('a'), pod('b'), pod('c')],
      kind: 'List',
      metadata: {},
    };
    const { documents } = await readJson(JSON.stringify(list, null, 4));
    assert.deepEqual(
      documents.map((document) => [document.source.document, document.source.itemPath]),
      [
        [1, 'items[0]'],
        [1, 'items[1]'],
        [1, 'items[2]'],
      ],
    );
    assert.deepEqual(
      documents.map((document) => (document.value as { metadata: { name: string } }).metadata.name),
      ['a', 'b', 'c'],
    );
  });

  test('a typed list (PodList) lends its item kind to items without one', async () => {
    const text = JSON.stringify({
      kind: 'PodList',
      apiVersion: 'v1',
      items: [{ metadata: { name: 'a' } }],
    });
    const { documents } = await readJson(text);
    assert.deepEqual(documents[0]?.listItemKind, { kind: 'Pod', apiVersion: 'v1' });
  });

  test('several top-level values and a bare array are all read', async () => {
    const text = `${JSON.stringify(pod('a'))}\n${JSON.stringify([pod('b'), pod('c')])}\n`;
    const { documents } = await readJson(text);
    assert.deepEqual(
      documents.map((document) => [document.source.document, document.source.itemPath]),
      [
        [1, ''],
        [2, '[0]'],
        [2, '[1]'],
      ],
    );
  });

  test('a syntax error is reported with line and column after the documents before it', async () => {
    const text = '{"kind":"List","items":[\n{"kind":"Pod"},\n{"kind": Pod}\n]}';
    const { documents, problems } = await readJson(text);
    assert.equal(documents.length, 1);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.line, 3);
    assert.match(problems[0]?.message ?? '', /invalid JSON at line 3, column 10: unexpected "P"/);
  });

  test('a document that is not an object is a problem and reading goes on', async () => {
    const { documents, problems } = await readJson(`42 ${JSON.stringify(pod('a'))}`);
    assert.equal(documents.length, 1);
    assert.match(
      problems[0]?.message ?? '',
      /not a Kubernetes object: the document is a JSON number/,
    );
  });

  test('records the line and column of images, whatever the chunking', async () => {
    const list = { apiVersion: 'v1', items: [pod('a'), pod('b', 'redis:7')], kind: 'List' };
    const text = JSON.stringify(list, null, 4);
    const lines = text.split('\n');
    for (const sizes of [[1 << 20], [1], [3, 7, 1, 64]]) {
      const { documents } = await readJson(text, sizes, imagePositions);
      const images = documents.map((document) => {
        const container = (document.value as { spec: { containers: object[] } }).spec
          .containers[0] as object;
        return document.locate(container, 'image', ['spec', 'containers', 0, 'image']);
      });
      for (const [index, position] of images.entries()) {
        assert.ok(position);
        const line = lines[position.line - 1] ?? '';
        assert.equal(
          line.slice(position.column - 1),
          JSON.stringify(index === 0 ? 'nginx:1.27' : 'redis:7'),
        );
      }
    }
  });

  test('property: any chunking yields the same documents as JSON.parse', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
          {
            maxLength: 6,
          },
        ),
        fc.constantFrom(0, 2, 4),
        fc.array(fc.integer({ min: 1, max: 17 }), { minLength: 1, maxLength: 5 }),
        async (items, indent, sizes) => {
          const text = JSON.stringify({ apiVersion: 'v1', items, kind: 'List' }, null, indent);
          const { documents, problems } = await readJson(text, sizes);
          assert.deepEqual(problems, []);
          assert.deepStrictEqual(
            documents.map((document) => document.value),
            JSON.parse(text).items,
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('readYamlDocuments', () => {
  test('splits documents at markers and numbers them', async () => {
    const text =
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\n# comment only\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n...\n';
    const { documents, problems } = await readYaml(text);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      documents.map((document) => [
        document.source.document,
        (document.value as { metadata: { name: string } }).metadata.name,
      ]),
      [
        [1, 'a'],
        [2, 'b'],
      ],
    );
  });

  test('a broken document is reported by line and the others are still read', async () => {
    const text =
      'kind: Pod\nmetadata: {name: a}\n---\nkind: Pod\nmetadata: [unclosed\n---\nkind: Pod\nmetadata: {name: c}\n';
    const { documents, problems } = await readYaml(text);
    assert.deepEqual(
      documents.map((document) => document.source.document),
      [1, 3],
    );
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.document, 2);
    assert.match(problems[0]?.message ?? '', /^invalid YAML at line [56]/);
  });

  test('streams the items of a kubectl List and locates their fields', async () => {
    const text = [
      'apiVersion: v1',
      'items:',
      '- apiVersion: v1',
      '  kind: Pod',
      '  metadata:',
      '    name: a',
      '  spec:',
      '    containers:',
      '    - image: nginx:1.27',
      '      name: app',
      '- apiVersion: v1',
      '  kind: Pod',
      '  metadata:',
      '    name: b',
      '  spec:',
      '    containers:',
      '    - name: app',
      '      image: "redis:7"',
      'kind: List',
      'metadata:',
      '  resourceVersion: ""',
      '',
    ].join('\n');
    for (const sizes of [[1 << 20], [5, 1, 13]]) {
      const { documents, problems } = await readYaml(text, sizes);
      assert.deepEqual(problems, []);
      assert.deepEqual(
        documents.map((document) => document.source.itemPath),
        ['items[0]', 'items[1]'],
      );
      const second = documents[1] as InputDocument;
      const container = (second.value as { spec: { containers: object[] } }).spec
        .containers[0] as object;
      assert.deepEqual(second.locate(container, 'image', ['spec', 'containers', 0, 'image']), {
        line: 18,
        column: 14,
      });
    }
  });

  test('a List written in another layout is expanded after parsing', async () => {
    const text =
      'kind: List\napiVersion: v1\nitems: [{kind: Pod, apiVersion: v1, metadata: {name: a}}]\n';
    const { documents } = await readYaml(text);
    assert.equal(documents.length, 1);
    assert.equal(documents[0]?.source.itemPath, 'items[0]');
  });

  test('alias bombs are refused', async () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level < 10; level++) {
      bomb.push(
        `${String.fromCharCode(97 + level)}: &${String.fromCharCode(97 + level)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + level)}`)
          .join(', ')}]`,
      );
    }
    const { documents, problems } = await readYaml(`${bomb.join('\n')}\n---\nkind: Pod\n`);
    assert.equal(documents.length, 1);
    assert.match(problems[0]?.message ?? '', /document refused: .*alias/i);
  });
});
