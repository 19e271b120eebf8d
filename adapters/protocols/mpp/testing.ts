/**
 * Test helpers of the MPP adapter (not a test file): the x402 priced-route fixture (real anvil,
 * real gateway over HTTP, SQLite) with the MPP provider mounted beside x402, and helpers to build
 * credentials by hand for negative cases.
 */
import type { Hex } from 'viem'
import { signAuthorization } from '../../../sandbox/chain/payer.js'
import { route, startX402Fixture, type X402Fixture } from '../x402/testFixture.js'
import { parseWwwAuthenticate, type MppChallenge } from './challenge.js'
import { formatAuthorization } from './credential.js'
import { challengeHash, didPkh } from './evmCharge.js'
import { mppOfferProvider, type MppOptions, type MppProvider } from './provider.js'

export const TEST_MPP_SECRET = 'mpp-test-secret-0123456789abcdef-0123456789'

export interface MppFixture extends X402Fixture {
  mpp: MppProvider
  /** Move the MPP provider's clock (seconds; expiry tests). */
  skew(seconds: number): void
  /** The MPP challenge of an unpaid call to `path`. */
  mppChallenge(path: string): Promise<MppChallenge>
}

/**
 * Routes: `/paid/weather` (settle after), `/paid/upfront` (settle before), `/paid/other` (same
 * price and payee as `/paid/weather`, another route).
 */
export async function startMppFixture(options: Partial<MppOptions> = {}, fixture: { configPatch?: Record<string, unknown> | undefined } = {}): Promise<MppFixture> {
  let mpp: MppProvider | undefined
  let skewMs = 0
  const make = mppOfferProvider({ secret: TEST_MPP_SECRET, clock: () => new Date(Date.now() + skewMs), ...options })
  const fx = await startX402Fixture({
    ...(fixture.configPatch ? { configPatch: fixture.configPatch } : {}),
    routes: (b) => [route(b), route(b, { id: 'upfront', path: '/paid/upfront', settle: 'before' }), route(b, { id: 'other', path: '/paid/other' }), route(b, { id: 'slow', path: '/paid/slow', upstream: { url: `${b.upstream.url}/slow`, timeoutMs: 10_000 } })],
    x402: {
      offerProviders: [
        (ctx) => {
          mpp = make(ctx)
          return mpp
        },
      ],
    },
  })
  return {
    ...fx,
    mpp: mpp!,
    skew: (s) => (skewMs = s * 1000),
    async mppChallenge(path) {
      const res = await fetch(`${fx.gw.url}${path}`)
      await res.arrayBuffer()
      if (res.status !== 402) throw new Error(`expected 402 from ${path}, got ${res.status}`)
      const [c] = parseWwwAuthenticate(res.headers.get('www-authenticate') ?? '')
      if (!c) throw new Error('no MPP challenge')
      return c
    },
  }
}

/** A hand-made `Authorization: Payment …` for `challenge` (negative cases), signed as mppx signs. */
export async function handCredential(
  fx: Pick<X402Fixture, 'chain'>,
  payer: { privateKey: Hex; address: string },
  challenge: MppChallenge,
  overrides: { value?: bigint; nonce?: Hex; to?: string; validBefore?: bigint; challenge?: Partial<MppChallenge> } = {},
): Promise<string> {
  const request = challenge.request as { amount: string; recipient: string; currency: string }
  const s = await signAuthorization({
    privateKey: payer.privateKey,
    chainId: fx.chain.chainId,
    token: { address: request.currency, name: fx.chain.token.name, version: fx.chain.token.version },
    to: overrides.to ?? request.recipient,
    value: overrides.value ?? BigInt(request.amount),
    validBefore: overrides.validBefore ?? BigInt(Math.floor(new Date(challenge.expires!).getTime() / 1000)),
    nonce: overrides.nonce ?? challengeHash(challenge),
  })
  return formatAuthorization({
    challenge: { ...challenge, ...overrides.challenge },
    payload: { type: 'authorization', ...s.authorization, signature: s.signature },
    source: didPkh(fx.chain.chainId, s.authorization.from),
  })
}
