import { getAddress, isAddress } from 'viem'
import { createChainHelpers, payerOf, type ChainHelpers } from '../framework/counterparts/wallet.js'
import type { CapabilityState, DiscoverContext, Discovery } from '../framework/types.js'
import { decodeB64Json, type PaymentRequired, type RequirementsV1, type X402Discovery } from './helpers.js'

/** Capabilities of the x402 suite. */
export const X402_CAPABILITIES = {
  'x402.route': { description: 'a priced route to check: --set x402.route=/path (or a URL), or an agentswitch dev.json listing x402.routes' },
  'x402.offer': { description: 'the route offers scheme "exact" on an eip155 network (what the suite signs: EIP-3009)' },
  'x402.v1': { description: 'the route also offers x402 v1 (a JSON 402 body with an exact entry on a v1 network name)' },
  'x402.facilitator': { description: 'a facilitator answering GET <facilitatorUrl>/supported (default <base-url>/x402/facilitator; --set x402.facilitatorUrl=…)' },
  'x402.payment-identifier': { description: 'the route declares the payment-identifier extension' },
  'x402.payment-identifier.required': { description: 'the route declares payment-identifier with required: true' },
  'runner.rpc': { description: 'the chain of the offer over JSON-RPC: --rpc-url (or the dev.json chain), to read balances and authorization states' },
  'payer.funded': {
    description: "the payer (the seed's wallet 0, or --set x402.payerPrivateKey=…) holds at least 8 × the route's price of its token on the chain",
  },
} as const

const yes = (source: string): CapabilityState => ({ available: true, source })
const no = (reason: string): CapabilityState => ({ available: false, reason })

interface DevX402 {
  x402?: { routes?: Array<{ url?: unknown; path?: unknown; method?: unknown }>; facilitator?: unknown }
  rails?: { evm?: { rpcUrl?: unknown; wallets?: Array<{ privateKey?: unknown }> } }
}

/**
 * x402 discovery: the route (option or dev.json) is called unpaid and its 402 read (v2 header, v1
 * body); the facilitator's `/supported` is read; the chain (`--rpc-url` or dev.json) is asked
 * for the payer's balance of the offered token.
 */
export async function discoverX402(ctx: DiscoverContext): Promise<Discovery<X402Discovery>> {
  const dev = ctx.target.devJson as DevX402 | undefined
  const payer = payerOf(ctx, 'x402', dev)
  const data: X402Discovery = { payer }
  const caps: Record<string, CapabilityState> = {}

  // The route.
  const devRoute = dev?.x402?.routes?.[0]
  const routeOption = ctx.options.get('route') ?? (typeof devRoute?.url === 'string' ? devRoute.url : typeof devRoute?.path === 'string' ? devRoute.path : undefined)
  const method = (ctx.options.get('routeMethod') ?? (typeof devRoute?.method === 'string' ? devRoute.method : 'GET')).toUpperCase()
  if (!routeOption) {
    caps['x402.route'] = no('no priced route given: --set x402.route=/path')
  } else {
    data.route = { url: routeOption, method }
    caps['x402.route'] = yes(ctx.options.get('route') ? '--set x402.route' : 'dev.json x402.routes[0]')
    const res = await ctx.http.request({ method, path: routeOption })
    data.unpaid = { status: res.status }
    ctx.note(`${method} ${routeOption} unpaid answered ${res.status}`)
    if (res.status === 402 && res.header('payment-required')) {
      try {
        data.unpaid.paymentRequired = decodeB64Json<PaymentRequired>(res.header('payment-required'), 'PAYMENT-REQUIRED')
      } catch (e) {
        ctx.note(`PAYMENT-REQUIRED does not decode: ${(e as Error).message}`)
      }
    }
    try {
      const body = res.json<{ x402Version?: unknown; accepts?: unknown; error?: string }>()
      if (body?.x402Version === 1 && Array.isArray(body.accepts)) data.unpaid.v1 = { accepts: body.accepts as RequirementsV1[], ...(body.error ? { error: body.error } : {}) }
    } catch {
      // not JSON: no v1 body
    }
  }
  const pr = data.unpaid?.paymentRequired
  const offer = pr?.accepts?.find((a) => a?.scheme === 'exact' && typeof a.network === 'string' && /^eip155:[1-9][0-9]*$/.test(a.network) && isAddress(String(a.asset)))
  if (offer) {
    data.offer = offer
    data.chainId = Number(offer.network.slice('eip155:'.length))
    caps['x402.offer'] = yes(`accepts: exact on ${offer.network}, ${offer.amount} of ${offer.asset}`)
  } else caps['x402.offer'] = no(data.route ? `the unpaid call's PAYMENT-REQUIRED has no exact offer on an eip155 network (status ${data.unpaid?.status})` : 'no route')
  const v1 = data.unpaid?.v1?.accepts.find((a) => a?.scheme === 'exact' && typeof a.network === 'string')
  if (v1) data.offerV1 = v1
  caps['x402.v1'] = v1 ? yes(`v1 body: exact on ${v1.network}`) : no(data.route ? 'the 402 has no v1 JSON body with an exact entry (v2 only, or a chain without a v1 network name)' : 'no route')
  const pid = pr?.extensions?.['payment-identifier']?.info
  if (pid && typeof pid['required'] === 'boolean') data.paymentIdentifier = { required: pid['required'] }
  caps['x402.payment-identifier'] = data.paymentIdentifier ? yes('PAYMENT-REQUIRED.extensions') : no('the route does not declare the payment-identifier extension')
  caps['x402.payment-identifier.required'] = data.paymentIdentifier?.required ? yes('info.required: true') : no('the route does not declare payment-identifier with required: true')

  // The facilitator.
  const base = ctx.target.baseUrl
  const facilitatorUrl = (ctx.options.get('facilitatorUrl') ?? (typeof dev?.x402?.facilitator === 'string' ? dev.x402.facilitator : `${base}/x402/facilitator`)).replace(/\/+$/, '')
  const sup = await ctx.http.get(`${facilitatorUrl}/supported`)
  if (sup.status === 200) {
    data.facilitatorUrl = facilitatorUrl
    caps['x402.facilitator'] = yes(`GET ${facilitatorUrl}/supported answered 200`)
  } else caps['x402.facilitator'] = no(`GET ${facilitatorUrl}/supported answered ${sup.status}`)

  // The chain.
  const devRpc = typeof dev?.rails?.evm?.rpcUrl === 'string' ? dev.rails.evm.rpcUrl : undefined
  let chain: ChainHelpers | undefined
  if (ctx.counterparts.rpcUrl) chain = ctx.counterparts.chain()
  else if (devRpc) chain = createChainHelpers(devRpc)
  if (chain && data.chainId !== undefined) {
    try {
      const id = await chain.chainId()
      if (id !== data.chainId) {
        caps['runner.rpc'] = no(`the RPC is chain ${id}, the offer is on eip155:${data.chainId}`)
        chain = undefined
      } else caps['runner.rpc'] = yes(ctx.counterparts.rpcUrl ? '--rpc-url' : 'dev.json rails.evm.rpcUrl')
    } catch (e) {
      caps['runner.rpc'] = no(`the RPC does not answer: ${(e as Error).message.split('\n')[0]}`)
      chain = undefined
    }
  } else caps['runner.rpc'] = no(chain ? 'no eip155 offer to compare the chain with' : 'no --rpc-url (and no dev.json chain)')
  if (chain) data.chain = chain

  if (chain && offer) {
    const balance = await chain.tokenBalance(getAddress(offer.asset), payer.address)
    const need = BigInt(offer.amount) * 8n
    ctx.note(`the payer holds ${balance} of ${offer.asset}; the checks spend up to ${need}`)
    caps['payer.funded'] = balance >= need ? yes(`${balance} ≥ ${need}`) : no(`the payer ${payer.address} holds ${balance} of ${offer.asset} on ${offer.network}; fund it with ${need} (or pass --set x402.payerPrivateKey=…)`)
  } else caps['payer.funded'] = no(chain ? 'no offer' : 'needs the chain (runner.rpc) to read the balance')

  return { data, capabilities: caps }
}
