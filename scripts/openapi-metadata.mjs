// Writes src/metadata.ts: what the @nestjs/swagger CLI plugin learns from the DTOs' types and doc
// comments. `nest build` runs the plugin itself; tests compile with swc, which cannot, so both
// load this file instead and the OpenAPI document is the same either way.
import { PluginMetadataGenerator } from '@nestjs/cli/lib/compiler/plugins/plugin-metadata-generator.js';
import { ReadonlyVisitor } from '@nestjs/swagger/plugin';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../src', import.meta.url));
new PluginMetadataGenerator().generate({
  visitors: [new ReadonlyVisitor({ introspectComments: true, classValidatorShim: true, pathToSource: src })],
  outputDir: src,
  tsconfigPath: 'tsconfig.json',
  printDiagnostics: false,
});
