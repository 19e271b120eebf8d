import type { LocalChainInfo } from './anvil.js'

/** The first word of the one line `sandbox/chain/main.ts` prints when the chain is ready. */
export const CHAIN_READY_PREFIX = 'CHAIN_READY'

/** `ProcessRegistry` ready line for the chain child; group 1 is the JSON. */
export const CHAIN_READY_LINE = /^CHAIN_READY (\{.*\})$/

/** Parse the JSON of the ready line (throws on a malformed line). */
export function parseChainReady(json: string): LocalChainInfo {
  const info = JSON.parse(json) as LocalChainInfo
  if (typeof info.rpcUrl !== 'string' || typeof info.chainId !== 'number' || typeof info.token?.address !== 'string')
    throw new Error('CHAIN_READY line lacks rpcUrl, chainId or token.address')
  return info
}
