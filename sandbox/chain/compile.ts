/**
 * Compile `contracts/AgentswitchUSD.sol` with solc-js (offline, the compiler ships inside the
 * `solc` package) and write `artifacts/AgentswitchUSD.json`. The artifact is committed so tests
 * and dev mode never compile; `compile.test.ts` checks it still equals a fresh compile.
 *
 * Run: `npx tsx sandbox/chain/compile.ts` (add `--check` to only compare, exit 1 on drift).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHash } from 'node:crypto'

const here = dirname(fileURLToPath(import.meta.url))

/** Where the source and the committed artifact live. */
export const TOKEN_SOURCE_PATH = join(here, 'contracts', 'AgentswitchUSD.sol')
export const TOKEN_ARTIFACT_PATH = join(here, 'artifacts', 'AgentswitchUSD.json')

/** The compiler settings: part of the artifact, so a change shows up as drift. */
export const COMPILER_SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // Cancun: supported by anvil and by every chain we target (no Prague/Osaka opcodes needed).
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'none' },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
} as const

/** The committed artifact's shape. */
export interface TokenArtifact {
  contractName: 'AgentswitchUSD'
  sourceName: string
  /** SHA-256 of the Solidity source the artifact was built from. */
  sourceSha256: string
  compiler: { name: 'solc'; version: string; settings: typeof COMPILER_SETTINGS }
  abi: unknown[]
  /** Creation bytecode, 0x-prefixed. */
  bytecode: `0x${string}`
  /** Runtime bytecode, 0x-prefixed. */
  deployedBytecode: `0x${string}`
}

interface SolcOutput {
  errors?: Array<{ severity: 'error' | 'warning' | 'info'; formattedMessage: string }>
  contracts: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>
}

/** Compile the token from source (about 1.5 s). Throws on any compiler error. */
export function compileToken(): TokenArtifact {
  const require = createRequire(import.meta.url)
  const solc = require('solc') as { compile(input: string): string; version(): string }
  const source = readFileSync(TOKEN_SOURCE_PATH, 'utf8')
  const sourceName = 'AgentswitchUSD.sol'
  const input = { language: 'Solidity', sources: { [sourceName]: { content: source } }, settings: COMPILER_SETTINGS }
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as SolcOutput
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`)
  const warnings = (output.errors ?? []).filter((e) => e.severity === 'warning')
  if (warnings.length > 0) throw new Error(`solc warnings are not accepted:\n${warnings.map((e) => e.formattedMessage).join('\n')}`)
  const c = output.contracts[sourceName]?.['AgentswitchUSD']
  if (!c) throw new Error('solc produced no AgentswitchUSD contract')
  return {
    contractName: 'AgentswitchUSD',
    sourceName,
    sourceSha256: createHash('sha256').update(source).digest('hex'),
    compiler: { name: 'solc', version: solc.version(), settings: COMPILER_SETTINGS },
    abi: c.abi,
    bytecode: `0x${c.evm.bytecode.object}`,
    deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
  }
}

/** The artifact as written to disk (stable formatting, trailing newline). */
export function serializeArtifact(artifact: TokenArtifact): string {
  return JSON.stringify(artifact, null, 2) + '\n'
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const fresh = serializeArtifact(compileToken())
  if (process.argv.includes('--check')) {
    const committed = readFileSync(TOKEN_ARTIFACT_PATH, 'utf8')
    if (committed !== fresh) {
      console.error(`${TOKEN_ARTIFACT_PATH} is stale: run npx tsx sandbox/chain/compile.ts`)
      process.exit(1)
    }
    console.log('artifact is up to date')
  } else {
    writeFileSync(TOKEN_ARTIFACT_PATH, fresh)
    console.log(`wrote ${TOKEN_ARTIFACT_PATH}`)
  }
}
