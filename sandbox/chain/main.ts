/**
 * Child-process entry of the local chain (dev mode): starts anvil, deploys and funds the token,
 * prints ONE line `CHAIN_READY <json>` ({@link LocalChainInfo}) on stdout, then runs until SIGTERM
 * / SIGINT (which stop anvil). Anything else goes to stderr.
 *
 * Options (flags or environment):
 *   --chain-id N    CHAIN_ID      default 31337
 *   --port N        CHAIN_PORT    default 0 (random loopback port)
 *   --block-time S  CHAIN_BLOCK_TIME  default: automine
 *   --wallets N     CHAIN_WALLETS default 5
 *
 * @example
 * registry.start({ name: 'chain', command: process.execPath, args: ['--import', 'tsx', 'sandbox/chain/main.ts'],
 *   readyLine: CHAIN_READY_LINE })  // then parseChainReady(child.ready[1])
 */
import { localChainInfo, startLocalChain } from './anvil.js'
import { CHAIN_READY_PREFIX } from './ready.js'

function option(flag: string, env: string): string | undefined {
  const i = process.argv.indexOf(flag)
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]
  return process.env[env]
}

function intOption(flag: string, env: string): number | undefined {
  const v = option(flag, env)
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} must be a non-negative integer, got ${v}`)
  return n
}

async function main(): Promise<void> {
  const chain = await startLocalChain({
    chainId: intOption('--chain-id', 'CHAIN_ID'),
    port: intOption('--port', 'CHAIN_PORT'),
    blockTime: intOption('--block-time', 'CHAIN_BLOCK_TIME'),
    wallets: intOption('--wallets', 'CHAIN_WALLETS'),
  })
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    void chain.stop().then(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  chain.anvil.process.once('exit', (code) => {
    if (stopping) return
    console.error(`anvil exited unexpectedly (${code})`)
    process.exit(1)
  })
  process.stdout.write(`${CHAIN_READY_PREFIX} ${JSON.stringify(localChainInfo(chain))}\n`)
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err))
  process.exit(1)
})
