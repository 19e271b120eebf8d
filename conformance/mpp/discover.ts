import { createChainHelpers, payerOf, type ChainHelpers } from '../framework/counterparts/wallet.js'
import type { CapabilityState, DiscoverContext, Discovery } from '../framework/types.js'
import { evmOfferOf, type MppDiscovery } from './helpers.js'
import { paymentChallenges } from './wire.js'

/** Capabilities of the MPP suite. */
export const MPP_CAPABILITIES = {
  'mpp.route': { description: 'a priced route to check: --set mpp.route=/path (or a URL), or an agentswitch dev.json listing mpp.routes' },
  'mpp.evm-charge': {
    description: 'the route offers method="evm" intent="charge" with credentialTypes listing "authorization" (EIP-3009: what the suite signs)',
  },
  'mpp.short-expiry': {
    description: 'the route (or --set mpp.expiringRoute=…) issues challenges whose expires is within mpp.maxExpiryWaitSeconds, so the suite can wait one out',
  },
  'runner.rpc': { description: 'the chain of the offer over JSON-RPC: --rpc-url (or the dev.json chain), to read balances and authorization states' },
  'token.domain': { description: "the token's EIP-712 name and version: read from the chain (eip712Domain / name + version) or --set mpp.tokenName / mpp.tokenVersion" },
  'payer.funded': { description: "the payer (the seed's wallet 0, or --set mpp.payerPrivateKey=…) holds at least 8 × the route's amount of its token" },
} as const

const yes = (source: string): CapabilityState => ({ available: true, source })
const no = (reason: string): CapabilityState => ({ available: false, reason })

interface DevMpp {
  /** What agentswitch dev mode writes: `routes` are URLs (strings); objects with url/path/method are read too. */
  mpp?: { routes?: Array<string | { url?: unknown; path?: unknown; method?: unknown }>; expiringRoute?: unknown }
  rails?: { evm?: { rpcUrl?: unknown; wallets?: Array<{ privateKey?: unknown }> } }
}

/**
 * MPP discovery: the route (option or dev.json `mpp.routes[0]`) is called unpaid and its
 * `WWW-Authenticate: Payment` challenges read; the evm/charge one is the offer the suite pays.
 * The chain (`--rpc-url` or dev.json) gives the payer's balance and the token's EIP-712 domain.
 */
export async function discoverMpp(ctx: DiscoverContext): Promise<Discovery<MppDiscovery>> {
  const dev = ctx.target.devJson as DevMpp | undefined
  const payer = payerOf(ctx, 'mpp', dev)
  const data: MppDiscovery = { payer }
  const caps: Record<string, CapabilityState> = {}

  // The route and its unpaid answer.
  const dr = dev?.mpp?.routes?.[0]
  const devRoute = typeof dr === 'string' ? { url: dr } : dr
  const routeOption = ctx.options.get('route') ?? (typeof devRoute?.url === 'string' ? devRoute.url : typeof devRoute?.path === 'string' ? devRoute.path : undefined)
  const method = (ctx.options.get('routeMethod') ?? (devRoute && 'method' in devRoute && typeof devRoute.method === 'string' ? devRoute.method : 'GET')).toUpperCase()
  if (!routeOption) caps['mpp.route'] = no('no priced route given: --set mpp.route=/path')
  else {
    data.route = { url: routeOption, method }
    caps['mpp.route'] = yes(ctx.options.get('route') ? '--set mpp.route' : 'dev.json mpp.routes[0]')
    const res = await ctx.http.request({ method, path: routeOption })
    const challenges = paymentChallenges(res.header('www-authenticate'))
    data.unpaid = { res, challenges }
    ctx.note(`${method} ${routeOption} unpaid answered ${res.status} with ${challenges.length} Payment challenge(s)`)
  }
  const picked = data.unpaid ? evmOfferOf(data.unpaid.challenges) : { reason: 'no route' }
  if (picked.offer) {
    data.offer = picked.offer
    caps['mpp.evm-charge'] = yes(`evm/charge on chain ${picked.offer.chainId}: ${picked.offer.amount} of ${picked.offer.currency} to ${picked.offer.recipient}`)
  } else caps['mpp.evm-charge'] = no(picked.reason)

  // A challenge short-lived enough to wait out.
  const maxWaitMs = Number(ctx.options.get('maxExpiryWaitSeconds') ?? '15') * 1000
  const expiringUrl = ctx.options.get('expiringRoute') ?? (typeof dev?.mpp?.expiringRoute === 'string' ? dev.mpp.expiringRoute : data.route?.url)
  if (!expiringUrl) caps['mpp.short-expiry'] = no('no route')
  else {
    const res = expiringUrl === data.route?.url && data.unpaid ? data.unpaid.res : await ctx.http.request({ method, path: expiringUrl })
    const ex = evmOfferOf(paymentChallenges(res.header('www-authenticate'))).offer?.challenge.params['expires']
    const ttlMs = ex ? new Date(ex).getTime() - Date.now() : Number.NaN
    if (!ex) caps['mpp.short-expiry'] = no(`${expiringUrl}: no evm/charge challenge with expires`)
    else if (!(ttlMs <= maxWaitMs)) caps['mpp.short-expiry'] = no(`${expiringUrl}: challenges live ${Math.round(ttlMs / 1000)} s, longer than mpp.maxExpiryWaitSeconds (${maxWaitMs / 1000} s); give a short-lived route with --set mpp.expiringRoute=…`)
    else {
      data.expiring = { url: expiringUrl, method, ttlMs }
      caps['mpp.short-expiry'] = yes(`${expiringUrl}: challenges live about ${Math.max(0, Math.round(ttlMs / 1000))} s`)
    }
  }

  // The chain.
  const devRpc = typeof dev?.rails?.evm?.rpcUrl === 'string' ? dev.rails.evm.rpcUrl : undefined
  let chain: ChainHelpers | undefined
  if (ctx.counterparts.rpcUrl) chain = ctx.counterparts.chain()
  else if (devRpc) chain = createChainHelpers(devRpc)
  const offer = data.offer
  if (chain && offer) {
    try {
      const id = await chain.chainId()
      if (id !== offer.chainId) {
        caps['runner.rpc'] = no(`the RPC is chain ${id}, the offer is on chain ${offer.chainId}`)
        chain = undefined
      } else caps['runner.rpc'] = yes(ctx.counterparts.rpcUrl ? '--rpc-url' : 'dev.json rails.evm.rpcUrl')
    } catch (e) {
      caps['runner.rpc'] = no(`the RPC does not answer: ${(e as Error).message.split('\n')[0]}`)
      chain = undefined
    }
  } else caps['runner.rpc'] = no(chain ? 'no evm/charge offer to compare the chain with' : 'no --rpc-url (and no dev.json chain)')
  if (chain) data.chain = chain

  // The token's EIP-712 domain (the challenge does not carry it).
  const name = ctx.options.get('tokenName')
  const version = ctx.options.get('tokenVersion')
  if (offer && name && version) {
    data.domain = { name, version, chainId: offer.chainId, verifyingContract: offer.currency }
    caps['token.domain'] = yes('--set mpp.tokenName / mpp.tokenVersion')
  } else if (offer && chain) {
    try {
      data.domain = await chain.tokenDomain(offer.currency)
      caps['token.domain'] = yes(`read from the chain: "${data.domain.name}" / "${data.domain.version}"`)
    } catch (e) {
      caps['token.domain'] = no(`the token's EIP-712 domain cannot be read (${(e as Error).message.split('\n')[0]}): --set mpp.tokenName=… mpp.tokenVersion=…`)
    }
  } else caps['token.domain'] = no(offer ? 'needs the chain (runner.rpc) or --set mpp.tokenName / mpp.tokenVersion' : 'no evm/charge offer')

  if (chain && offer) {
    const balance = await chain.tokenBalance(offer.currency, payer.address)
    const need = offer.amount * 8n
    ctx.note(`the payer holds ${balance} of ${offer.currency}; the checks spend up to ${need}`)
    caps['payer.funded'] = balance >= need ? yes(`${balance} ≥ ${need}`) : no(`the payer ${payer.address} holds ${balance} of ${offer.currency}; fund it with ${need} (or pass --set mpp.payerPrivateKey=…)`)
  } else caps['payer.funded'] = no(chain ? 'no offer' : 'needs the chain (runner.rpc) to read the balance')

  return { data, capabilities: caps }
}
