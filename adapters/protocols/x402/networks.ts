/**
 * Network names: CAIP-2 (`eip155:<chainId>`, v2) and the closed list of v1 names (digest §3.4,
 * the `@x402/evm` 2.27 superset; the legacy 1.2 client knows only a subset).
 */

/** v1 network name → EVM chain id (`EVM_NETWORK_CHAIN_ID_MAP` of `@x402/evm` 2.27). */
export const V1_EVM_NETWORKS: Readonly<Record<string, number>> = Object.freeze({
  ethereum: 1,
  sepolia: 11155111,
  abstract: 2741,
  'abstract-testnet': 11124,
  'base-sepolia': 84532,
  base: 8453,
  'avalanche-fuji': 43113,
  avalanche: 43114,
  iotex: 4689,
  sei: 1329,
  'sei-testnet': 1328,
  polygon: 137,
  'polygon-amoy': 80002,
  peaq: 3338,
  story: 1514,
  educhain: 41923,
  'skale-base-sepolia': 324705682,
  megaeth: 4326,
  monad: 143,
  stable: 988,
  'stable-testnet': 2201,
  celo: 42220,
  flare: 14,
})

const EIP155 = /^eip155:([1-9][0-9]{0,15})$/

/** The chain id of a CAIP-2 `eip155:<id>` network, or `undefined`. */
export function chainIdOf(network: string): number | undefined {
  const m = EIP155.exec(network)
  if (!m) return undefined
  const id = Number(m[1])
  return Number.isSafeInteger(id) ? id : undefined
}

/** v1 names in both directions, with configured aliases (`{ "31337": "anvil" }`) added to the table. */
export interface V1Networks {
  /** The v1 name of a chain, or `undefined` (v1 cannot address it). */
  nameOf(chainId: number): string | undefined
  /** The chain id of a v1 name, or `undefined`. */
  chainIdOf(name: string): number | undefined
}

/**
 * The v1 table plus aliases. An alias takes precedence for its chain id, so a local chain can be
 * named for v1 clients that accept custom names (the legacy 1.2 client does not).
 */
export function v1Networks(aliases: Readonly<Record<string, string>> = {}): V1Networks {
  const byChain = new Map<number, string>()
  const byName = new Map<string, number>()
  for (const [name, id] of Object.entries(V1_EVM_NETWORKS)) {
    byName.set(name, id)
    if (!byChain.has(id)) byChain.set(id, name)
  }
  for (const [id, name] of Object.entries(aliases)) {
    const n = Number(id)
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`v1 network alias ${id}: not a chain id`)
    const known = byName.get(name)
    if (known !== undefined && known !== n) throw new Error(`v1 network alias ${name} already names chain ${known}`)
    byChain.set(n, name)
    byName.set(name, n)
  }
  return { nameOf: (chainId) => byChain.get(chainId), chainIdOf: (name) => byName.get(name) }
}
