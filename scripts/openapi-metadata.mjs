// Writes src/metadata.ts: what the @nestjs/swagger CLI plugin learns from the DTOs' types and doc
// comments. Tests compile with swc, which cannot run the plugin, so the service loads this file
// instead. `nest build` does not run the plugin either (nest-cli.json): inside the compiler it
// documents some handlers differently from this file (one with only error @ApiResponse decorators
// gets its success type from the return type there, not here), and openapi.json must be what every
// build serves.
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
