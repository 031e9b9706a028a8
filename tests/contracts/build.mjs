// Compile every tests/contracts/*.sol with the pinned npm `solc` (see package.json) and write
// xstock_audit/sandbox/contracts/<ContractName>.json =
// {abi, bytecode, contractName, deployedBytecode, solcVersion}
// (package data: the sandbox's local Ethereum node deploys them, and so do the tests).
// Output is deterministic: sorted keys, 2-space indent, trailing newline.
// It also compiles the package's own Yul (xstock_audit/chains/evm/*.yul: the EVM reader's
// deployless batch call) into <Name>.json next to each source = {bytecode, evmVersion,
// solcVersion}, for the evm version every EVM chain runs (no PUSH0: "paris").
// Usage: npm run build:contracts   (or: node tests/contracts/build.mjs)
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const solc = require("solc");

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "..", "..", "xstock_audit", "sandbox", "contracts");
const EVM_VERSION = "cancun"; // runs on anvil 1.7.1 and on py-evm (Prague), both later hardforks

const files = readdirSync(here).filter((f) => f.endsWith(".sol")).sort();
if (files.length === 0) {
  console.error(`no .sol files in ${here}`);
  process.exit(1);
}

const input = {
  language: "Solidity",
  sources: Object.fromEntries(
    files.map((f) => [f, { content: readFileSync(join(here, f), "utf8") }]),
  ),
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: EVM_VERSION,
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input)));
let failed = false;
for (const diag of output.errors ?? []) {
  console.error(diag.formattedMessage ?? diag.message);
  if (diag.severity === "error") failed = true;
}
if (failed) process.exit(1);

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys(value[k])]),
    );
  }
  return value;
}

mkdirSync(outDir, { recursive: true });
const solcVersion = solc.version();
for (const file of files) {
  for (const [contractName, contract] of Object.entries(output.contracts[file] ?? {}).sort()) {
    const bytecode = contract.evm.bytecode.object;
    if (!bytecode) continue; // interfaces / abstract contracts
    const deployedBytecode = `0x${contract.evm.deployedBytecode.object}`;
    const artifact = sortKeys({
      abi: contract.abi,
      bytecode: `0x${bytecode}`,
      contractName,
      deployedBytecode,
      solcVersion,
    });
    const path = join(outDir, `${contractName}.json`);
    writeFileSync(path, `${JSON.stringify(artifact, null, 2)}\n`);
    console.log(`wrote ${path} (${bytecode.length / 2} bytes, solc ${solcVersion}, evm ${EVM_VERSION})`);
  }
}

// -- the package's Yul: run on every EVM chain the registry names, so the oldest evm version
const YUL_EVM_VERSION = "paris";
const yulDir = join(here, "..", "..", "xstock_audit", "chains", "evm");
for (const file of readdirSync(yulDir).filter((f) => f.endsWith(".yul")).sort()) {
  const yulInput = {
    language: "Yul",
    sources: { [file]: { content: readFileSync(join(yulDir, file), "utf8") } },
    settings: {
      optimizer: { enabled: true, details: { yul: true } },
      evmVersion: YUL_EVM_VERSION,
      outputSelection: { "*": { "*": ["evm.bytecode.object"] } },
    },
  };
  const yulOut = JSON.parse(solc.compile(JSON.stringify(yulInput)));
  for (const diag of yulOut.errors ?? []) {
    console.error(diag.formattedMessage ?? diag.message);
    if (diag.severity === "error") process.exit(1);
  }
  for (const [name, contract] of Object.entries(yulOut.contracts[file]).sort()) {
    const bytecode = contract.evm.bytecode.object;
    const artifact = sortKeys({ bytecode: `0x${bytecode}`, evmVersion: YUL_EVM_VERSION, solcVersion });
    const path = join(yulDir, `${name}.json`);
    writeFileSync(path, `${JSON.stringify(artifact, null, 2)}\n`);
    console.log(`wrote ${path} (${bytecode.length / 2} bytes, solc ${solcVersion}, evm ${YUL_EVM_VERSION})`);
  }
}
