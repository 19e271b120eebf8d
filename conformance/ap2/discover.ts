import { randomBytes } from 'node:crypto'
import type { Instrument, Party } from './issuer.js'
import { checkoutFor, closePair, openPair } from './issuer.js'
import type { CapabilityState, DiscoverContext, Discovery } from '../framework/types.js'
import { a2aSend, AP2_EXTENSION_URI, outcomeOf, partiesOf, PROBE_INSTRUMENT, type Ap2Discovery } from './helpers.js'

/** Extension URIs that mean AP2 on an agent card (the samples' and the v0.1 doc's). */
const AP2_URIS = [AP2_EXTENSION_URI, 'https://github.com/google-agentic-commerce/ap2/tree/v0.1', 'https://google-a2a.github.io/A2A/ext/payments/v1']

export const AP2_CAPABILITIES = {
  a2a: { description: 'an A2A agent card at /.well-known/agent-card.json naming the AP2 extension and a JSON-RPC url (the binding the suite speaks)' },
  trust: {
    description:
      "the target trusts the runner's seeded keys: ap2/user (root signer) and ap2/merchant (checkout_jwt signer, as merchant --set ap2.payeeId); shown by a presentation that gets past verification to the probe instrument",
  },
  payments: { description: 'an instrument the target settles for that merchant (--set ap2.instrument=JSON, or dev.json ap2.instrument): the requirements that move money' },
  'nonces.issued': { description: 'the target issues presentation nonces (REST nonce endpoint or an A2A ap2.verifier_challenge turn)' },
} as const

const yes = (source: string): CapabilityState => ({ available: true, source })
const no = (reason: string): CapabilityState => ({ available: false, reason })

/**
 * AP2 discovery: the agent card (AP2 extension, JSON-RPC url, audience, receipt JWK Set, nonce
 * endpoint), which merchant and instrument to use (options, else dev.json `ap2`), whether the
 * target issues nonces, and whether it trusts the runner's keys — by a probe presentation whose
 * instrument no verifier settles, so nothing is ever charged.
 */
export async function discoverAp2(ctx: DiscoverContext): Promise<Discovery<Ap2Discovery>> {
  const base = ctx.target.baseUrl
  const dev = (ctx.target.devJson as { ap2?: { payee?: Party; instrument?: Instrument; currency?: string; amount?: string } } | undefined)?.ap2
  const opt = (n: string): string | undefined => ctx.options.get(n)
  const instrumentJson = opt('instrument')
  let instrument: Instrument | undefined = dev?.instrument
  if (instrumentJson) {
    try {
      instrument = JSON.parse(instrumentJson) as Instrument
    } catch {
      ctx.note(`--set ap2.instrument is not JSON: ${instrumentJson}`)
    }
  }
  const data: Ap2Discovery = {
    jwksUrl: `${base}/.well-known/ap2/jwks.json`,
    payee: { id: opt('payeeId') ?? dev?.payee?.id ?? 'conformance_merchant', name: opt('payeeName') ?? dev?.payee?.name ?? 'Conformance Merchant' },
    instrument,
    currency: opt('currency') ?? dev?.currency ?? 'CNY',
    amount: Number(opt('amount') ?? dev?.amount ?? '100'),
  }
  const caps: Record<keyof typeof AP2_CAPABILITIES, CapabilityState> = {
    a2a: no('no agent card'),
    trust: no('needs the a2a capability'),
    payments: no('needs trust and an instrument'),
    'nonces.issued': no('no nonce endpoint and no A2A verifier challenge'),
  }

  const cardRes = await ctx.http.get('/.well-known/agent-card.json')
  if (cardRes.status === 200) {
    try {
      const card = cardRes.json<Record<string, unknown>>()
      data.card = card
      const exts = ((card['capabilities'] as { extensions?: Array<{ uri?: string; params?: Record<string, unknown> }> } | undefined)?.extensions ?? []).filter((e) => AP2_URIS.includes(e.uri ?? ''))
      const params = exts[0]?.params ?? {}
      if (typeof params['audience'] === 'string') data.audience = params['audience']
      if (typeof params['receipt_jwks_uri'] === 'string') data.jwksUrl = params['receipt_jwks_uri']
      if (typeof params['nonce_endpoint'] === 'string') data.nonceUrl = params['nonce_endpoint']
      if (exts.length && typeof card['url'] === 'string') {
        data.a2aUrl = card['url']
        caps.a2a = yes(`agent card url ${card['url']}`)
      } else caps.a2a = no(exts.length ? 'the agent card has no url' : 'the agent card names no AP2 extension')
    } catch {
      caps.a2a = no('the agent card is not JSON')
    }
  } else caps.a2a = no(`GET /.well-known/agent-card.json answered ${cardRes.status}: the target does not advertise an A2A AP2 agent`)

  if (data.a2aUrl) {
    try {
      await probe(ctx, data, caps)
    } catch (e) {
      caps.trust = no(`the A2A endpoint did not answer as expected: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  return { data, capabilities: caps }
}

async function probe(ctx: DiscoverContext, data: Ap2Discovery, caps: Record<keyof typeof AP2_CAPABILITIES, CapabilityState>): Promise<void> {
  const base = ctx.target.baseUrl
  {
    let nonce: string | undefined
    if (data.nonceUrl) {
      const r = await ctx.http.post(data.nonceUrl, { json: {} })
      if (r.status < 300) {
        const body = r.json<{ nonce?: unknown; aud?: unknown }>()
        if (typeof body.nonce === 'string') {
          nonce = body.nonce
          caps['nonces.issued'] = yes(`POST ${data.nonceUrl}`)
          if (typeof body.aud === 'string') data.audience ??= body.aud
        }
      }
    }
    if (!nonce) {
      const o = outcomeOf((await a2aSend(ctx, data.a2aUrl!, [{ kind: 'text', text: 'conformance: which aud and nonce?' }])).body)
      const c = o.data['ap2.verifier_challenge'] as { nonce?: unknown; aud?: unknown } | undefined
      if (typeof c?.nonce === 'string') {
        nonce = c.nonce
        caps['nonces.issued'] = yes('A2A ap2.verifier_challenge')
        if (typeof c.aud === 'string') data.audience ??= c.aud
      }
    }
    // The trust probe: a valid presentation by the runner's keys for the probe instrument.
    const parties = partiesOf(ctx, data.payee)
    const open = openPair(parties, { requirements: [{ acceptable: [{ id: 'conf-probe', title: 'probe' }], quantity: 1 }], allowedInstruments: [PROBE_INSTRUMENT] })
    const cart = checkoutFor(data.payee, [{ sku: 'conf-probe', title: 'probe', price: data.amount, quantity: 1 }], { currency: data.currency })
    const m = closePair(parties, open, { checkout: cart, instrument: PROBE_INSTRUMENT, aud: data.audience ?? base, nonce: nonce ?? randomBytes(16).toString('hex') })
    const o = outcomeOf((await a2aSend(ctx, data.a2aUrl!, [{ kind: 'data', data: { 'ap2.mandates.CheckoutMandateSdJwt': m.checkoutMandate, 'ap2.mandates.PaymentMandateSdJwt': m.paymentMandate } }])).body)
    ctx.note(`trust probe: ${o.state} ${o.error ?? ''} ${o.description ?? ''}`.trim())
    if (o.error === 'mandates_not_supported') caps.trust = yes('the probe presentation passed verification (stopped at the probe instrument)')
    else caps.trust = no(`the probe presentation was refused with ${o.error ?? o.state}: ${o.description ?? ''} — configure the target to trust the runner's ap2/user and ap2/merchant keys (seed ${ctx.counterparts.seed})`)
    if (caps.trust.available && data.instrument) caps.payments = yes(`instrument ${data.instrument.type}:${data.instrument.id}`)
    else if (!data.instrument) caps.payments = no('no instrument: --set ap2.instrument=\'{"id":"…","type":"alipay.agreement"}\' (dev.json ap2.instrument)')
  }
}
