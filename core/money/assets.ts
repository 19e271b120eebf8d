import { GatewayError } from '../errors/gatewayError.js'
import { iso4217 } from './iso4217.js'

/**
 * One asset the gateway can hold amounts in. The registry is the only place decimals come from:
 * a protocol message may name an asset, never its exponent (DESIGN §2).
 */
export interface AssetInfo {
  /** `iso4217:USD` for fiat, CAIP-19 for tokens (`eip155:8453/erc20:0x8335…2913`, address lowercase). */
  id: string
  /** Fiat currency or on-chain token. */
  kind: 'fiat' | 'token'
  /** Minor-unit exponent: amounts are integers in units of 10^-decimals (USD 2, JPY 0, KWD 3, USDC 6). */
  decimals: number
  /** Display symbol (`USD`, `USDC`). */
  symbol: string
  /** Human name (`US Dollar`, `USD Coin on Base`). */
  name?: string | undefined
  /** CAIP-2 network of a token (`eip155:8453`). */
  network?: string | undefined
  /** Token contract address, lowercase. */
  address?: string | undefined
}

/** The asset registry: lookups by normalised id, plus registration of extra assets at startup. */
export interface AssetRegistry {
  /** The asset, or `undefined` when the id is unknown or malformed. */
  get(id: string): AssetInfo | undefined
  /** The asset; throws `GW_ASSET_UNKNOWN` when the id is unknown or malformed. */
  require(id: string): AssetInfo
  /** Every asset, fiat first (ISO order), then tokens, then later registrations. */
  list(): AssetInfo[]
  /**
   * Add an asset. Validates the id, kind, decimals (integer 0..36) and symbol; a token's CAIP-19 id
   * is normalised (EVM address lowercased) and its `network`/`address` filled in or checked.
   * Registering the same asset again is a no-op; registering an id again with different facts
   * throws, so an exponent can never change under existing amounts. Returns the stored entry.
   */
  register(info: AssetInfo): AssetInfo
}

/** Largest exponent accepted (a few chains use 24; 36 leaves room without allowing nonsense). */
export const MAX_ASSET_DECIMALS = 36

const FIAT_ID = /^iso4217:[A-Z]{3}$/
// CAIP-2 chain id + "/" + CAIP-19 asset namespace and reference (the same grammar as schemas/canonical/asset-id.json).
const CAIP19_ID = /^([-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32})\/([-a-z0-9]{3,8}):([-.%a-zA-Z0-9]{1,128})$/
const EIP155_CHAIN = /^eip155:[1-9][0-9]*$/
const EVM_ADDRESS = /^0x[0-9a-fA-F]{40}$/

/**
 * The canonical form of an asset id, or `undefined` when it is not a valid fiat or CAIP-19 id.
 * `eip155` ERC-20 addresses are lowercased (EIP-55 checksums are mixed case, and the same token
 * must have one key); every other part is kept as written, because CAIP-19 references of other
 * namespaces are case-sensitive. Fiat codes must already be upper case, as the schema requires.
 *
 * @example normalizeAssetId('eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913')
 * // 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913'
 */
export function normalizeAssetId(id: string): string | undefined {
  if (typeof id !== 'string') return undefined
  if (FIAT_ID.test(id)) return id
  const m = CAIP19_ID.exec(id)
  if (!m) return undefined
  const [, chain, namespace, reference] = m as unknown as [string, string, string, string]
  if (chain.startsWith('eip155:') && namespace === 'erc20') {
    if (!EIP155_CHAIN.test(chain) || !EVM_ADDRESS.test(reference)) return undefined
    return `${chain}/erc20:${reference.toLowerCase()}`
  }
  return id
}

/** USDC contracts the gateway knows without configuration (Circle's native USDC, 6 decimals). */
export const wellKnownTokens: readonly AssetInfo[] = [
  {
    id: 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913',
    kind: 'token',
    decimals: 6,
    symbol: 'USDC',
    name: 'USD Coin on Base',
    network: 'eip155:8453',
    address: '0x833589fcd6edb6e08f4c7c32d4f71b54bda02913',
  },
  {
    id: 'eip155:84532/erc20:0x036cbd53842c5426634e7929541ec2318f3dcf7e',
    kind: 'token',
    decimals: 6,
    symbol: 'USDC',
    name: 'USD Coin on Base Sepolia (testnet)',
    network: 'eip155:84532',
    address: '0x036cbd53842c5426634e7929541ec2318f3dcf7e',
  },
  {
    id: 'eip155:1/erc20:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48',
    kind: 'token',
    decimals: 6,
    symbol: 'USDC',
    name: 'USD Coin on Ethereum',
    network: 'eip155:1',
    address: '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48',
  },
]

function invalid(message: string): GatewayError {
  return new GatewayError('GW_CONFIG_INVALID', `invalid asset registration: ${message}`)
}

/** Validate and normalise one registration; returns a frozen entry. */
function normalizeAssetInfo(info: AssetInfo): Readonly<AssetInfo> {
  if (typeof info !== 'object' || info === null) throw invalid('expected an object')
  const { id, kind, decimals, symbol, name, network, address } = info
  if (kind !== 'fiat' && kind !== 'token') throw invalid(`kind must be 'fiat' or 'token', got ${JSON.stringify(kind)}`)
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > MAX_ASSET_DECIMALS)
    throw invalid(`decimals of ${String(id)} must be an integer 0..${MAX_ASSET_DECIMALS}, got ${String(decimals)}`)
  if (typeof symbol !== 'string' || symbol.length === 0 || symbol.length > 16)
    throw invalid(`symbol of ${String(id)} must be 1..16 characters`)
  if (name !== undefined && typeof name !== 'string') throw invalid(`name of ${String(id)} must be a string`)
  const canonical = normalizeAssetId(id)
  if (canonical === undefined) throw invalid(`${JSON.stringify(id)} is neither iso4217:XXX nor a CAIP-19 asset id`)

  if (kind === 'fiat') {
    if (!FIAT_ID.test(canonical)) throw invalid(`fiat asset ${canonical} must have an iso4217:XXX id`)
    if (network !== undefined || address !== undefined) throw invalid(`fiat asset ${canonical} has no network or address`)
    return Object.freeze({ id: canonical, kind, decimals, symbol, ...(name === undefined ? {} : { name }) })
  }

  if (FIAT_ID.test(canonical)) throw invalid(`token ${canonical} must have a CAIP-19 id`)
  const slash = canonical.indexOf('/')
  const chain = canonical.slice(0, slash)
  if (network !== undefined && network !== chain) throw invalid(`network ${network} does not match the id's chain ${chain}`)
  let tokenAddress: string | undefined
  if (canonical.slice(slash + 1).startsWith('erc20:') && chain.startsWith('eip155:')) {
    tokenAddress = canonical.slice(slash + 1 + 'erc20:'.length)
    if (address !== undefined && address.toLowerCase() !== tokenAddress)
      throw invalid(`address ${address} does not match the id's contract ${tokenAddress}`)
  } else if (address !== undefined) {
    tokenAddress = address
  }
  return Object.freeze({
    id: canonical,
    kind,
    decimals,
    symbol,
    ...(name === undefined ? {} : { name }),
    network: chain,
    ...(tokenAddress === undefined ? {} : { address: tokenAddress }),
  })
}

function sameAsset(a: Readonly<AssetInfo>, b: Readonly<AssetInfo>): boolean {
  return (
    a.id === b.id &&
    a.kind === b.kind &&
    a.decimals === b.decimals &&
    a.symbol === b.symbol &&
    a.name === b.name &&
    a.network === b.network &&
    a.address === b.address
  )
}

/**
 * A new asset registry holding every active ISO 4217 currency (core/money/iso4217.ts), the
 * well-known USDC contracts, and `extra` (validated like {@link AssetRegistry.register}). Each call
 * returns an independent registry: there is no module-level state.
 *
 * @example
 * const assets = createAssetRegistry()
 * assets.require('iso4217:KWD').decimals // 3
 * assets.get('eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913')?.symbol // 'USDC'
 */
export function createAssetRegistry(extra: readonly AssetInfo[] = []): AssetRegistry {
  const byId = new Map<string, Readonly<AssetInfo>>()

  const register = (info: AssetInfo): AssetInfo => {
    const entry = normalizeAssetInfo(info)
    const existing = byId.get(entry.id)
    if (existing !== undefined) {
      if (sameAsset(existing, entry)) return existing
      throw invalid(
        `${entry.id} is already registered with different facts (decimals ${existing.decimals}, symbol ${existing.symbol}); an asset's exponent cannot change`,
      )
    }
    byId.set(entry.id, entry)
    return entry
  }

  for (const [code, , minorUnits, name] of iso4217) {
    register({ id: `iso4217:${code}`, kind: 'fiat', decimals: minorUnits, symbol: code, name })
  }
  for (const token of wellKnownTokens) register(token)
  for (const info of extra) register(info)

  const get = (id: string): AssetInfo | undefined => {
    const canonical = normalizeAssetId(id)
    return canonical === undefined ? undefined : byId.get(canonical)
  }

  return {
    get,
    require(id) {
      const found = get(id)
      if (found !== undefined) return found
      const shown = typeof id === 'string' ? JSON.stringify(id.length > 200 ? `${id.slice(0, 200)}…` : id) : typeof id
      throw new GatewayError(
        'GW_ASSET_UNKNOWN',
        normalizeAssetId(id) === undefined
          ? `asset ${shown} is not a valid asset id (expected iso4217:XXX or CAIP-19)`
          : `asset ${shown} is not in the asset registry`,
      )
    },
    list: () => [...byId.values()],
    register,
  }
}
