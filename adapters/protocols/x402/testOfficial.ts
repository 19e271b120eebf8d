/**
 * Test and benchmark helper (not a test file): the OFFICIAL facilitator — `x402Facilitator` from
 * `@x402/core` with `@x402/evm`'s exact scheme and a viem signer — and the thin HTTP surface the
 * x402 examples put in front of it (`POST /verify`, `POST /settle`, `GET /supported`). It is the
 * reference our facilitator is compared with, never part of the gateway.
 */
import { x402Facilitator } from '@x402/core/facilitator'
import { toFacilitatorEvmSigner } from '@x402/evm'
import { registerExactEvmScheme } from '@x402/evm/exact/facilitator'
import express, { type Router } from 'express'
import { createNonceManager, createWalletClient, defineChain, http, publicActions, type Hex } from 'viem'
import { jsonRpc } from 'viem/nonce'
import { privateKeyToAccount } from 'viem/accounts'

/**
 * The official facilitator on `rpcUrl`, settling from `privateKey` with a nonce manager of its own
 * (concurrent sends from one key work; viem's shared `nonceManager` would carry nonces over from
 * another chain with the same id and address).
 */
export function officialFacilitator(p: { rpcUrl: string; chainId: number; privateKey: Hex; pollingIntervalMs?: number | undefined }): x402Facilitator {
  const account = privateKeyToAccount(p.privateKey, { nonceManager: createNonceManager({ source: jsonRpc() }) })
  const chain = defineChain({ id: p.chainId, name: `local-${p.chainId}`, nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [p.rpcUrl] } } })
  const client = createWalletClient({ account, chain, transport: http(p.rpcUrl, { retryCount: 0 }), pollingInterval: p.pollingIntervalMs ?? 10 }).extend(publicActions)
  const signer = toFacilitatorEvmSigner(Object.assign(client, { address: account.address }) as never)
  const facilitator = new x402Facilitator()
  registerExactEvmScheme(facilitator, { signer, networks: `eip155:${p.chainId}` as `${string}:${string}` })
  return facilitator
}

/** The examples' HTTP surface: 400 without both bodies, 500 with the message on an exception. */
export function officialFacilitatorRouter(f: x402Facilitator): Router {
  const r = express.Router()
  r.use(express.json())
  for (const op of ['verify', 'settle'] as const) {
    r.post(`/${op}`, async (req, res) => {
      try {
        const { paymentPayload, paymentRequirements } = (req.body ?? {}) as { paymentPayload?: unknown; paymentRequirements?: unknown }
        if (!paymentPayload || !paymentRequirements) return void res.status(400).json({ error: 'Missing paymentPayload or paymentRequirements' })
        res.json(await f[op](paymentPayload as never, paymentRequirements as never))
      } catch (error) {
        res.status(500).json({ error: error instanceof Error ? error.message : String(error) })
      }
    })
  }
  r.get('/supported', (_req, res) => {
    res.json(f.getSupported())
  })
  return r
}
