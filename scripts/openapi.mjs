// npm run openapi: writes openapi.json, the document the service serves at /docs-json, from the
// built service (the npm script builds first). The app is created, never started: no Redis, no
// listener, no admin bootstrap. Its configuration is fixed here rather than read from the caller's
// environment, which must not change the committed file (the session cookie's name is the only
// setting the document shows). test/openapi-contract.e2e.spec.ts fails when the two differ.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
// Through require, as dist/ (CommonJS) loads them: one instance of each Nest package.
const { NestFactory } = require('@nestjs/core');
const { AppModule } = require('../dist/app.module.js');
const { canonicalJson, createOpenApiDocument } = require('../dist/docs/openapi-document.js');

const target = fileURLToPath(new URL('../openapi.json', import.meta.url));
const app = await NestFactory.create(AppModule.forRoot({ NODE_ENV: 'development', LOG_LEVEL: 'error' }), {
  logger: false,
  bodyParser: false,
});
try {
  const document = await createOpenApiDocument(app);
  writeFileSync(target, canonicalJson(document));
  const operations = Object.values(document.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  console.log(`openapi.json: ${operations} operations, version ${document.info.version}`);
} finally {
  await app.close();
}
