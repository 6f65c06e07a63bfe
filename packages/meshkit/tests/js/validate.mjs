// Validate one GLB file with the Khronos glTF validator and print its report as JSON on stdout.
// Usage: node validate.mjs FILE.glb   (needs the npm package gltf-validator installed beside this script)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const validator = require("gltf-validator");
const bytes = new Uint8Array(readFileSync(process.argv[2]));
const report = await validator.validateBytes(bytes, { maxIssues: 100 });
process.stdout.write(JSON.stringify(report));
