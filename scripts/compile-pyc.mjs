#!/usr/bin/env node
// Writes CPython 3.14 bytecode (__pycache__/*.cpython-314.pyc) for every .py under a directory,
// for the Lambda runtime's Python, which the build machine does not have.
//
//   node scripts/compile-pyc.mjs DIR [--ddir /var/task] [--python-version 3.14]
//
// pyodide (npm, pinned in package.json) is CPython compiled to WebAssembly: it loads here from
// node_modules, offline. DIR is mounted into it (NODEFS) and infra/bytecode.py, the same code the
// bench runs with the local interpreter, compiles it. Any failure exits non-zero.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "pyodide";

const MOUNT = "/asset";
const [target, ...options] = process.argv.slice(2);
if (!target) {
  console.error("usage: node scripts/compile-pyc.mjs DIR [infra/bytecode.py options]");
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const source = await readFile(path.join(here, "..", "infra", "bytecode.py"), "utf8");
const pyodide = await loadPyodide({
  stdout: (line) => console.log(line),
  stderr: (line) => console.error(line),
});
pyodide.FS.mkdirTree(MOUNT);
pyodide.mountNodeFS(MOUNT, path.resolve(target));
const namespace = pyodide.globals.get("dict")();
namespace.set("__name__", "bytecode");
try {
  pyodide.runPython(source, { globals: namespace });
  const status = namespace.get("main")(pyodide.toPy([MOUNT, ...options]));
  process.exitCode = status;
} catch (error) {
  console.error(`compile-pyc: ${error.message ?? error}`);
  process.exitCode = 1;
}
