/**
 * MPP server-side CPU cost, in process, no chain I/O: challenge issue (HMAC-SHA256 id over the
 * JCS request + the `WWW-Authenticate` value) and credential verify (parse `Authorization:
 * Payment`, base64url + JSON, HMAC re-check, route binding, expiry, payload shape, challenge-hash
 * nonce, then the EVM rail's EIP-712 check: `verifyEip3009Authorization` with `onChain: false`
 * and no signature cache, so every credential pays one secp256k1 recovery). Credentials are
 * signed before the clock starts, each for its own challenge.
 *
 * `npm run bench -- mpp [--issue N] [--verify N]`
 */
import { performance } from 'node:perf_hooks'
import type { Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { computeChallengeId, formatChallenge, type MppChallenge } from '../adapters/protocols/mpp/challenge.js'
import { formatAuthorization, parseAuthorization } from '../adapters/protocols/mpp/credential.js'
import { challengeHash, challengeOpaque, didPkh, routeOffer, verifyMppCredential, type MppRouteOffer } from '../adapters/protocols/mpp/evmCharge.js'
import type { PricedRoute } from '../adapters/protocols/x402/pricedRoutes/types.js'
import { verifyEip3009Authorization, type Eip3009ChainReader, type EvmRail, type EvmTokenInfo } from '../adapters/rails/evm/index.js'
import { signAuthorization } from '../sandbox/chain/payer.js'

const SECRET = 'bench-secret-0123456789abcdef-0123456789abcdef'
const REALM = 'api.example.com'

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`)
  const v = i >= 0 ? Number(args[i + 1]) : NaN
  return Number.isFinite(v) && v > 0 ? v : fallback
}

function stats(lat: number[], totalMs: number): { perSecond: number; p50us: number; p99us: number } {
  lat.sort((a, b) => a - b)
  const at = (q: number): number => Number(((lat[Math.min(lat.length - 1, Math.floor(lat.length * q))] ?? 0) * 1000).toFixed(1))
  return { perSecond: Math.round((lat.length / totalMs) * 1000), p50us: at(0.5), p99us: at(0.99) }
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const issueN = arg(args, 'issue', 20_000)
  const verifyN = arg(args, 'verify', 1_000)
  const token: EvmTokenInfo = { address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', name: 'Agentswitch USD', version: '2', decimals: 6, assetId: 'eip155:31337/erc20:0x5fbdb2315678afecb367f032d93f642f64180aa3' }
  const payTo = privateKeyToAccount(generatePrivateKey()).address
  const route = { id: 'GET /paid/weather', price: { value: '10000', asset: token.assetId }, payTo, description: 'Weather now' } as unknown as PricedRoute
  const offer = routeOffer(route, { token: () => token }) as MppRouteOffer
  const unsignedOf = (expires: string): Omit<MppChallenge, 'id'> => ({ realm: REALM, method: 'evm', intent: 'charge', request: offer.request, expires, opaque: challengeOpaque(route) })

  // Issue: what every 402 costs the MPP provider.
  const issueLat: number[] = []
  const t0 = performance.now()
  for (let i = 0; i < issueN; i++) {
    const s = performance.now()
    const expires = new Date(Date.now() + 300_000 + i).toISOString().replace(/\.\d{3}Z$/, 'Z')
    const u = unsignedOf(expires)
    formatChallenge({ id: computeChallengeId(u, SECRET), ...u, description: route.description })
    issueLat.push(performance.now() - s)
  }
  const issue = stats(issueLat, performance.now() - t0)
  console.log(`  challenge issue   ${String(issue.perSecond).padStart(7)} /s  p50 ${issue.p50us} µs  p99 ${issue.p99us} µs  (${issueN})`)

  // Verify: signed beforehand, one challenge each (distinct expires → distinct id and nonce).
  console.log(`  signing ${verifyN} credentials …`)
  const payer = generatePrivateKey()
  const headers: string[] = []
  for (let i = 0; i < verifyN; i++) {
    const expiresAt = Math.floor(Date.now() / 1000) + 300 + i
    const u = unsignedOf(new Date(expiresAt * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'))
    const challenge: MppChallenge = { id: computeChallengeId(u, SECRET), ...u }
    const s = await signAuthorization({ privateKey: payer, chainId: 31337, token, to: payTo, value: 10_000n, validBefore: BigInt(expiresAt), nonce: challengeHash(challenge) })
    headers.push(formatAuthorization({ challenge, payload: { type: 'authorization', ...s.authorization, signature: s.signature }, source: didPkh(31337, s.authorization.from) }))
  }
  const noChain = new Proxy({}, { get: () => () => Promise.reject(new Error('no chain I/O in this bench')) }) as Eip3009ChainReader
  const verifyAuthorization: EvmRail['verifyAuthorization'] = (p) =>
    verifyEip3009Authorization(noChain, { chainId: 31337, token: { address: token.address as Address, name: token.name, version: token.version }, authorization: p.authorization, signature: p.signature, payTo: p.payTo, amount: BigInt(p.amount), amountMatch: 'exact', onChain: false })
  const verifyLat: number[] = []
  let failures = 0
  const t1 = performance.now()
  for (const h of headers) {
    const s = performance.now()
    const v = await verifyMppCredential({ credential: parseAuthorization(h), offer, realm: REALM, secrets: [SECRET], now: new Date(), verifyAuthorization })
    verifyLat.push(performance.now() - s)
    if (!v.ok) failures++
  }
  const verify = stats(verifyLat, performance.now() - t1)
  console.log(`  credential verify ${String(verify.perSecond).padStart(7)} /s  p50 ${verify.p50us} µs  p99 ${verify.p99us} µs  (${verifyN}, ${failures} refused)`)
  if (failures > 0) throw new Error(`${failures} valid credentials were refused`)
  return { issue: { count: issueN, ...issue }, verify: { count: verifyN, failures, ...verify } }
}
