import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(__dirname, '..', 'scripts', 'openapi-breaking.mjs');

// Documents are edited in place below, any path deep: the script reads them as plain JSON.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = Record<string, any>;

/** A small API: create a thing, read it back. */
function base(version = '0.1.0'): Doc {
  return {
    openapi: '3.0.0',
    info: { title: 'things', version },
    paths: {
      '/things': {
        post: {
          operationId: 'createThing',
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/ThingInput' } } },
          },
          responses: {
            '201': {
              description: '',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } },
            },
            '400': {
              description: '',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
            },
          },
        },
      },
      '/things/{id}': {
        get: {
          operationId: 'getThing',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'fields', in: 'query', required: false, schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description: '',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } },
            },
          },
        },
      },
    },
    components: {
      schemas: {
        ThingInput: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string', maxLength: 64 },
            note: { type: 'string' },
            kind: { type: 'string', enum: ['small', 'large'] },
          },
        },
        Thing: {
          type: 'object',
          required: ['id', 'name', 'tags'],
          properties: {
            id: { type: 'string' },
            name: { type: 'string' },
            tags: { type: 'array', items: { $ref: '#/components/schemas/Tag' } },
            owner: { type: 'string', nullable: true },
          },
        },
        Tag: { type: 'object', required: ['label'], properties: { label: { type: 'string' } } },
        Error: { type: 'object', properties: { message: { type: 'string' } } },
      },
    },
  };
}

/** The query and path parameters of GET /things/{id}. */
const parameters = (doc: Doc): object[] => doc.paths['/things/{id}'].get.parameters as object[];

function changed(edit: (doc: Doc) => void, version?: string): Doc {
  const doc = base(version);
  edit(doc);
  return doc;
}

describe('scripts/openapi-breaking.mjs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'openapi-breaking-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  let n = 0;
  function check(before: Doc, after: Doc): { status: number | null; output: string } {
    n += 1;
    const [a, b] = [join(dir, `base-${n}.json`), join(dir, `head-${n}.json`)];
    writeFileSync(a, JSON.stringify(before));
    writeFileSync(b, JSON.stringify(after));
    const run = spawnSync(process.execPath, [SCRIPT, '--base', a, '--head', b], { encoding: 'utf8' });
    return { status: run.status, output: `${run.stdout}${run.stderr}` };
  }

  function expectBreaking(after: Doc, ...found: string[]): void {
    const { status, output } = check(base(), after);
    expect({ status, found: found.filter((text) => !output.includes(text)) }).toEqual({ status: 1, found: [] });
  }

  it('passes the same document', () => {
    expect(check(base(), base())).toEqual({ status: 0, output: expect.stringContaining('no breaking change') });
  });

  it('fails on a removed operation', () => {
    expectBreaking(
      changed((doc) => delete doc.paths['/things/{id}']),
      'GET /things/{id}: operation removed (getThing)',
    );
  });

  it('fails on a renamed operationId', () => {
    expectBreaking(
      changed((doc) => (doc.paths['/things'].post.operationId = 'addThing')),
      'operationId changed from createThing to addThing',
    );
  });

  it('fails on a removed response field, also one reached through $ref and array items', () => {
    expectBreaking(
      changed((doc) => delete doc.components.schemas.Thing.properties.owner),
      'POST /things response 201: field owner removed',
      'GET /things/{id} response 200: field owner removed',
    );
    expectBreaking(
      changed((doc) => (doc.components.schemas.Tag = { type: 'object', properties: {} })),
      'GET /things/{id} response 200 .tags []: field label removed',
    );
  });

  it('fails on a response field that may now be missing or null', () => {
    expectBreaking(
      changed((doc) => {
        doc.components.schemas.Thing.required = ['id', 'tags'];
        doc.components.schemas.Thing.properties.id.nullable = true;
      }),
      'field name may now be missing',
      '.id: may now be null',
    );
  });

  it('fails on a new required request field and a new required parameter', () => {
    expectBreaking(
      changed((doc) => {
        doc.components.schemas.ThingInput.properties.colour = { type: 'string' };
        doc.components.schemas.ThingInput.required = ['name', 'colour'];
        parameters(doc).push({ name: 'v', in: 'query', required: true, schema: {} });
      }),
      'POST /things request body: new required field colour',
      'GET /things/{id}: new required query parameter v',
    );
    expectBreaking(
      changed((doc) => (doc.components.schemas.ThingInput.required = ['name', 'note'])),
      'field note is now required',
    );
  });

  it('fails on a removed request field or parameter: the service refuses unknown ones', () => {
    expectBreaking(
      changed((doc) => {
        delete doc.components.schemas.ThingInput.properties.note;
        parameters(doc).pop();
      }),
      'field note removed',
      'query parameter fields removed',
    );
  });

  it('fails on narrowed request types, bounds and enums', () => {
    expectBreaking(
      changed((doc) => {
        const props = doc.components.schemas.ThingInput.properties;
        props.name.maxLength = 32;
        props.note = { type: 'integer' };
        props.kind.enum = ['small'];
      }),
      '.name: maxLength narrowed from 64 to 32',
      '.note: type changed from string to integer',
      '.kind: accepts fewer values (large)',
    );
  });

  it('passes harmless additions: an operation, an optional field or parameter, a response field, a wider bound', () => {
    const after = changed((doc) => {
      doc.paths['/things'].get = { operationId: 'listThings', responses: { '200': { description: '' } } };
      parameters(doc).push({ name: 'lang', in: 'query', required: false, schema: {} });
      doc.components.schemas.ThingInput.properties.name.maxLength = 128;
      doc.components.schemas.ThingInput.properties.colour = { type: 'string' };
      doc.components.schemas.ThingInput.properties.kind.enum = ['small', 'large', 'huge'];
      doc.components.schemas.Thing.properties.createdAt = { type: 'string' };
      doc.paths['/things'].post.responses['409'] = { description: 'taken' };
    });
    expect(check(base(), after)).toEqual({ status: 0, output: expect.stringContaining('no breaking change') });
  });

  it('lets a raised major version (the minor while 0.x) announce a breaking change', () => {
    const removal = (version: string) => changed((doc) => delete doc.paths['/things/{id}'], version);
    const from = (version: string, to: string) => check(base(version), removal(to)).status;
    expect(from('0.1.0', '0.2.0')).toBe(0);
    expect(from('0.1.0', '1.0.0')).toBe(0);
    expect(from('1.4.2', '2.0.0')).toBe(0);
    expect(from('0.1.0', '0.1.1')).toBe(1);
    expect(from('1.4.2', '1.5.0')).toBe(1);
    expect(from('1.4.2', '1.4.2')).toBe(1);
  });

  it('finds nothing breaking between the committed openapi.json and itself', () => {
    const committed = JSON.parse(readFileSync(join(__dirname, '..', 'openapi.json'), 'utf8')) as Doc;
    expect(check(committed, committed).status).toBe(0);
  });
});
