import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { request } from 'undici'
import { recoverTypedDataAddress, type Address } from 'viem'
import { afterAll, describe, expect, it } from 'vitest'
import { CheckFailure } from '../assert.js'
import type { Exchange } from '../http.js'
import { fromRoot } from '../paths.js'
import { createCounterparts, DEFAULT_SEED } from './counterparts.js'
import { deriveSigningKey, jwkThumbprint, verifyEs256Jws } from './signingKeys.js'
import { createChainHelpers, deriveWallet, nonceFor, signTransferAuthorization } from './wallet.js'

describe('signing keys (ES256 from a seed)', () => {
  it('are deterministic per seed and label, distinct otherwise, and sign JWS that verify', () => {
    const a = deriveSigningKey('seed-1', 'ap2/user')
    expect(deriveSigningKey('seed-1', 'ap2/user').publicJwk).toEqual(a.publicJwk)
    expect(deriveSigningKey('seed-1', 'ap2/agent').publicJwk.x).not.toBe(a.publicJwk.x)
    expect(deriveSigningKey('seed-2', 'ap2/user').publicJwk.x).not.toBe(a.publicJwk.x)
    expect(a.kid).toBe(jwkThumbprint(a.publicJwk))
    expect(a.publicJwk).not.toHaveProperty('d')
    const jws = a.signJwt({ vct: 'mandate.payment.1', iat: 1_700_000_000 }, { typ: 'kb+jwt' })
    const v = verifyEs256Jws(jws, a.publicJwk)
    expect(v).toEqual({ ok: true, header: { alg: 'ES256', kid: a.kid, typ: 'kb+jwt' }, payload: { vct: 'mandate.payment.1', iat: 1_700_000_000 } })
    const [h, p, s] = jws.split('.') as [string, string, string]
    const tampered = `${h}.${Buffer.from(JSON.stringify({ vct: 'mandate.payment.1', iat: 1 })).toString('base64url')}.${s}`
    expect(verifyEs256Jws(tampered, a.publicJwk)).toEqual({ ok: false, reason: 'bad_signature' })
    expect(verifyEs256Jws(`${h}.${p}`, a.publicJwk)).toEqual({ ok: false, reason: 'malformed' })
    expect(verifyEs256Jws(jws, deriveSigningKey('seed-1', 'other').publicJwk)).toEqual({ ok: false, reason: 'bad_signature' })
  })
})

describe('test wallets (viem accounts from a seed)', () => {
  it('are the same on every machine for a seed, and sign EIP-3009 authorizations offline', async () => {
    const w = deriveWallet(DEFAULT_SEED, 0)
    // Pinned: a change here means every recorded run's payer address changes.
    expect(w.address).toBe(deriveWallet(DEFAULT_SEED, 0).address)
    expect(w.address).toMatchInlineSnapshot(`"0x7Ab972d7a1322d296b1eccd506845F2DAcEb0f73"`)
    expect(deriveWallet(DEFAULT_SEED, 1).address).not.toBe(w.address)
    const domain = { name: 'USD Coin', version: '2', chainId: 31337, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address }
    const message = { from: w.address, to: deriveWallet(DEFAULT_SEED, 1).address, value: 1000n, validAfter: 0n, validBefore: 2_000_000_000n, nonce: nonceFor('run-1/a') }
    const signature = await signTransferAuthorization(w, domain, message)
    const signer = await recoverTypedDataAddress({
      domain,
      primaryType: 'TransferWithAuthorization',
      types: {
        TransferWithAuthorization: [
          { name: 'from', type: 'address' },
          { name: 'to', type: 'address' },
          { name: 'value', type: 'uint256' },
          { name: 'validAfter', type: 'uint256' },
          { name: 'validBefore', type: 'uint256' },
          { name: 'nonce', type: 'bytes32' },
        ],
      },
      message,
      signature,
    })
    expect(signer).toBe(w.address)
  })

  it('register their private material with the run redactor', () => {
    const c = createCounterparts({ seed: 'redact-me' })
    const w = c.wallet(3)
    const k = c.signingKey('receipts')
    const text = c.redactor.text(`${w.privateKey} ${k.privateJwk.d}`)
    expect(text).not.toContain(w.privateKey.slice(2))
    expect(text).not.toContain(k.privateJwk.d)
    expect(() => c.chain()).toThrow(/--rpc-url/)
  })
})

describe('webhook receiver and profile server', () => {
  const c = createCounterparts()
  afterAll(() => c.close())

  it('the receiver records deliveries, answers by policy, and waits for a matching one (into the current evidence)', async () => {
    const rx = await c.webhookReceiver()
    expect(await c.webhookReceiver()).toBe(rx)
    const evidence: Exchange[] = []
    c.evidence.current = { add: (e) => evidence.push(e) }
    const stop = rx.respond((d) => ((d.json as { n?: number })?.n === 1 ? 503 : undefined))
    const post = async (n: number): Promise<number> => {
      const r = await request(rx.urlFor('/hooks/x'), { method: 'POST', headers: { 'content-type': 'application/json', 'agentswitch-signature': 't=1,v1=ab' }, body: JSON.stringify({ n }) })
      await r.body.text()
      return r.statusCode
    }
    expect(await post(1)).toBe(503)
    const later = rx.waitFor((d) => (d.json as { n?: number })?.n === 2, { timeoutMs: 2000 })
    expect(await post(2)).toBe(200)
    const d2 = await later
    expect(d2).toMatchObject({ method: 'POST', path: '/hooks/x', answered: 200, text: '{"n":2}' })
    const d1 = await rx.waitFor((d) => (d.json as { n?: number })?.n === 1, { timeoutMs: 10 })
    expect(d1.answered).toBe(503)
    stop()
    expect(await post(1)).toBe(200)
    await expect(rx.waitFor(() => false, { timeoutMs: 50, what: 'a miracle' })).rejects.toThrow(new CheckFailure(`no a miracle at ${rx.url} within 50 ms (3 deliveries received in this run)`))
    expect(evidence.map((e) => [e.direction, e.response?.status])).toEqual([
      ['inbound', 200],
      ['inbound', 503],
    ])
    expect(evidence[0]!.request.headers['agentswitch-signature']).toMatch(/^\[REDACTED:/)
    c.evidence.current = undefined
  })

  it('the profile server serves documents, 404s removed ones, counts fetches and records them', async () => {
    const ps = await c.profileServer()
    const evidence: Exchange[] = []
    c.evidence.current = { add: (e) => evidence.push(e) }
    const url = ps.serve('/profiles/agent.json', { ucp: { version: '2026-04-08' } })
    const r = await request(url)
    expect(r.statusCode).toBe(200)
    expect(r.headers['content-type']).toBe('application/json')
    expect(await r.body.json()).toEqual({ ucp: { version: '2026-04-08' } })
    ps.remove('/profiles/agent.json')
    const gone = await request(url)
    await gone.body.text()
    expect(gone.statusCode).toBe(404)
    expect(ps.fetches('/profiles/agent.json')).toBe(2)
    expect(evidence.map((e) => e.response?.status)).toEqual([200, 404])
    c.evidence.current = undefined
  })
})

const ANVIL = fromRoot('node_modules', '@foundry-rs', 'anvil-linux-amd64', 'bin', 'anvil')

describe('chain helpers (--rpc-url) against a local anvil', () => {
  let anvil: ChildProcess | undefined
  afterAll(() => {
    anvil?.kill('SIGKILL')
  })

  it('reads the chain id and balances and funds a test wallet', async (ctx) => {
    if (!existsSync(ANVIL)) ctx.skip(`no anvil binary at ${ANVIL} (the @foundry-rs/anvil-linux-amd64 dev dependency is not installed)`)
    anvil = spawn(ANVIL, ['--port', '0', '--chain-id', '31337'], { stdio: ['ignore', 'pipe', 'inherit'] })
    const rpcUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('anvil did not start within 10 s')), 10_000)
      createInterface({ input: anvil!.stdout! }).on('line', (line) => {
        const m = /Listening on (\S+)/.exec(line)
        if (m) {
          clearTimeout(timer)
          resolve(`http://${m[1]}`)
        }
      })
    })
    const chain = createChainHelpers(rpcUrl)
    expect(await chain.chainId()).toBe(31337)
    const w = deriveWallet(DEFAULT_SEED, 7)
    expect(await chain.balance(w.address)).toBe(0n)
    await chain.setBalance(w.address, 10n ** 18n)
    expect(await chain.balance(w.address)).toBe(10n ** 18n)
  })
})
