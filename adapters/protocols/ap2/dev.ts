import { DEFAULT_SEED } from '../../../conformance/framework/counterparts/counterparts.js'
import { deriveSigningKey } from '../../../conformance/framework/counterparts/signingKeys.js'
import type { Ap2MountOptions } from './options.js'
import { generateReceiptKey } from './receipts.js'
import { fixedCodeOtp } from './state.js'

/** What dev mode writes under `ap2` in `dev.json`: what the conformance runner and scripts read. */
export interface DevAp2Json {
  /** The merchant the conformance runner's `ap2/merchant` key signs checkouts as. */
  payee: { id: string; name: string }
  /** An instrument the dev rails settle (the sandbox's paying agreement). */
  instrument: { id: string; type: string }
  currency: string
  amount: string
  a2a: string
  agentCard: string
  jwks: string
  nonces: string
  payments: string
  /** The seed whose `ap2/user`, `ap2/agent`, `ap2/merchant` keys the gateway trusts. */
  conformanceSeed: string
  /** The x402 token and wallet, when the local chain runs. */
  x402?: { network: string; asset: string; payTo: string } | undefined
}

export interface DevAp2Parameters {
  /** The gateway's URL (`http://127.0.0.1:8402`): receipts' `iss` and the verifier's `aud`. */
  issuer: string
  /** The demo merchant (`merchants[].id`). */
  merchantId: string
  /** Seed of the trusted demo keys (default: the conformance runner's default seed). */
  seed?: string | undefined
  /** The local chain's token and a merchant wallet, to take x402 payments on it. */
  x402?: { network: string; asset: string; payTo: string } | undefined
}

/**
 * AP2 for dev mode (`npm start`): trusts the keys the conformance runner derives from its default
 * seed (`ap2/user` as root signer, `ap2/merchant` as the demo merchant's checkout key), so
 * `agentswitch conformance run --protocol ap2` works out of the box; settles the Alipay sandbox's
 * paying agreement and, when the local chain runs, x402 in its token (1:1 USD); steps up with the
 * samples' OTP `123` from ¥1000 / $150. Development only: these keys are public knowledge.
 *
 * @example
 * const ap2 = devAp2Options({ issuer: `http://127.0.0.1:${port}`, merchantId: 'demo' })
 * createGateway(config, { mounts: [ap2Mount(ap2.options)] }); devJson.ap2 = ap2.devJson
 */
export function devAp2Options(p: DevAp2Parameters): { options: Ap2MountOptions; devJson: DevAp2Json } {
  const seed = p.seed ?? DEFAULT_SEED
  const issuer = p.issuer.replace(/\/+$/, '')
  const user = deriveSigningKey(seed, 'ap2/user')
  const merchant = deriveSigningKey(seed, 'ap2/merchant')
  const payee = { id: 'demo_merchant', name: 'Demo Merchant' }
  const options: Ap2MountOptions = {
    issuer,
    receiptKey: generateReceiptKey(),
    trust: { users: [{ kid: user.kid, jwk: user.publicJwk }] },
    merchants: [{ merchantId: p.merchantId, payee, checkoutKeys: [{ kid: merchant.kid, jwk: merchant.publicJwk }], ...(p.x402 ? { payTo: { [p.x402.network]: p.x402.payTo } } : {}) }],
    instruments: { x402: { tokens: p.x402 ? [{ asset: p.x402.asset, currency: 'USD' }] : [] } },
    stepUp: { amountAtLeast: { CNY: '100000', USD: '15000' }, otp: fixedCodeOtp('123') },
  }
  const devJson: DevAp2Json = {
    payee,
    instrument: { id: '20215000000000000001', type: 'alipay.agreement' },
    currency: 'CNY',
    amount: '100',
    a2a: `${issuer}/ap2/a2a`,
    agentCard: `${issuer}/.well-known/agent-card.json`,
    jwks: `${issuer}/.well-known/ap2/jwks.json`,
    nonces: `${issuer}/ap2/v1/nonces`,
    payments: `${issuer}/ap2/v1/payments`,
    conformanceSeed: seed,
    x402: p.x402,
  }
  return { options, devJson }
}
