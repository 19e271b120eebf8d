/**
 * The `dev.json` a running `npm start` writes (in $AGENTSWITCH_DATA_DIR or ./data), as the demo
 * scripts read it: the gateway URL, the priced routes and the local chain with its funded wallets.
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Address, Hex } from 'viem'

export interface DevChain {
  rpcUrl: string
  chainId: number
  token: { address: Address; name?: string; version?: string; symbol?: string; decimals?: number }
  wallets: Array<{ address: Address; privateKey: Hex }>
}

export interface DevJson {
  gateway: { url: string }
  x402?: { routes?: Array<{ url?: string; path?: string; method?: string }> }
  rails?: { evm?: DevChain }
}

/**
 * `dev.json` and its local chain, for a demo script: prints why and exits 1 when the gateway is not
 * running or lists no chain with a funded wallet.
 */
export function readDevChainOrExit(): { dev: DevJson; evm: DevChain } {
  const devPath = join(resolve(process.env['AGENTSWITCH_DATA_DIR'] ?? 'data'), 'dev.json')
  let dev: DevJson
  try {
    dev = JSON.parse(readFileSync(devPath, 'utf8')) as DevJson
  } catch {
    console.error(`cannot read ${devPath}: start the gateway first (npm start)`)
    process.exit(1)
  }
  const evm = dev.rails?.evm
  if (!evm?.wallets?.[0]) {
    console.error(`${devPath} lists no local chain (rails.evm) with a funded wallet`)
    process.exit(1)
  }
  return { dev, evm }
}
