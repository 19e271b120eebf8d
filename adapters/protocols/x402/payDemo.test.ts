/**
 * Acceptance 6 (our half): `npx tsx scripts/pay-demo.ts` — the copy-paste way dev mode prints —
 * pays the demo route of a gateway set up as dev mode sets it up (demo upstream, devX402Options,
 * dev.json with the chain and its wallets), with the official client; the balance moves once.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../../core/util/paths.js'
import { devAccount, localChainInfo, startLocalChain, tokenBalance, type LocalChain } from '../../../sandbox/chain/anvil.js'
import { localChainAsset, localChainRailConfig } from '../../../sandbox/chain/devConfig.js'
import { registerEvmRail } from '../../rails/evm/registerEvmRail.js'
import { startTestGateway, type TestGateway } from '../../testing/testGateway.js'
import { demoUpstreamMount, describeDevX402, devX402Json, devX402Options } from './dev.js'
import { x402Mount } from './mount.js'

let chain: LocalChain
let gw: TestGateway
let dataDir: string
let devX402: ReturnType<typeof devX402Json>

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

beforeAll(async () => {
  chain = await startLocalChain({ wallets: 2 })
  const info = localChainInfo(chain)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const x402 = devX402Options({ gatewayUrl: url, merchantId: 'm1', chain: info, payTo: devAccount(9).address })
  gw = await startTestGateway({
    configPatch: { server: { host: '127.0.0.1', port }, assets: [localChainAsset(info)] },
    gatewayOptions: {
      rails: [registerEvmRail({ chains: [localChainRailConfig(info)] })],
      mounts: [demoUpstreamMount(), x402Mount(x402)],
    },
  })
  devX402 = devX402Json(gw.url, x402)
  dataDir = mkdtempSync(join(tmpdir(), 'agentswitch-paydemo-'))
  // What dev mode writes (the parts the script reads).
  writeFileSync(
    join(dataDir, 'dev.json'),
    JSON.stringify({ gateway: { url: gw.url }, x402: devX402, rails: { evm: info } }),
  )
})
afterAll(async () => {
  ;(gw?.gateway.rails.get('evm') as { close?: () => void } | undefined)?.close?.()
  await gw?.close()
  await chain?.stop()
  if (dataDir) rmSync(dataDir, { recursive: true, force: true })
})

describe('scripts/pay-demo.ts', () => {
  it('dev.json and the printed lines name the demo route and the facilitator', () => {
    expect(devX402).toEqual({
      routes: [{ id: 'demo-weather', method: 'GET', url: `${gw.url}/paid/weather`, price: { amount: '10000', asset: chain.token.assetId }, settle: 'after' }],
      facilitator: `${gw.url}/x402/facilitator`,
    })
    expect(describeDevX402(devX402).join('\n')).toContain('npx tsx scripts/pay-demo.ts')
  })

  it('pays the demo route with the official client: exit 0, 200 with the weather, PAYMENT-RESPONSE, 10 000 units moved once', async () => {
    const wallet = chain.wallets[0]!
    const before = { payer: await tokenBalance(chain.rpcUrl, chain.token.address, wallet.address), payTo: await tokenBalance(chain.rpcUrl, chain.token.address, devAccount(9).address) }
    const child = spawn(process.execPath, ['--import', 'tsx', fromRoot('scripts', 'pay-demo.ts')], { cwd: fromRoot(), env: { ...process.env, AGENTSWITCH_DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()))
    const [code] = (await once(child, 'exit')) as [number | null]
    expect(code, out).toBe(0)
    expect(out).toContain(`GET ${gw.url}/paid/weather → 402`)
    expect(out).toContain(`paid GET ${gw.url}/paid/weather → 200`)
    expect(out).toMatch(/"temperatureC":/)
    expect(out).toMatch(/PAYMENT-RESPONSE: \{"success":true,"transaction":"0x[0-9a-f]{64}","network":"eip155:31337"/)
    expect(out).not.toContain(wallet.privateKey)
    expect(await tokenBalance(chain.rpcUrl, chain.token.address, wallet.address)).toBe(before.payer - 10_000n)
    expect(await tokenBalance(chain.rpcUrl, chain.token.address, devAccount(9).address)).toBe(before.payTo + 10_000n)
  }, 60_000)
})
