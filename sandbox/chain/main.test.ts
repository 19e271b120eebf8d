import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ProcessRegistry } from '../../adapters/cli/processRegistry.js'
import { rpc, tokenBalance } from './anvil.js'
import { CHAIN_READY_LINE, parseChainReady } from './ready.js'

const here = dirname(fileURLToPath(import.meta.url))

// The dev-mode entry, started exactly as dev mode will: a child of ProcessRegistry.
describe('sandbox/chain/main.ts as a child process', () => {
  it('prints one CHAIN_READY line with a live chain, a deployed token and funded wallets; SIGTERM stops anvil', async () => {
    const registry = new ProcessRegistry(() => {})
    const child = await registry.start({
      name: 'chain',
      command: process.execPath,
      args: ['--import', 'tsx', join(here, 'main.ts'), '--chain-id', '84532', '--wallets', '2'],
      readyLine: CHAIN_READY_LINE,
      readyTimeoutMs: 20_000,
    })
    const info = parseChainReady(child.ready[1]!)
    try {
      expect(info).toMatchObject({ chainId: 84532, network: 'eip155:84532', token: { name: 'Agentswitch USD', version: '2', decimals: 6 } })
      expect(info.token.assetId).toBe(`eip155:84532/erc20:${info.token.address.toLowerCase()}`)
      expect(info.wallets).toHaveLength(2)
      expect(Number(await rpc(info.rpcUrl, 'eth_chainId'))).toBe(84532)
      expect(await rpc(info.rpcUrl, 'eth_getCode', [info.token.address, 'latest'])).not.toBe('0x')
      expect(await tokenBalance(info.rpcUrl, info.token.address, info.wallets[0]!.address)).toBe(1_000_000_000n)
    } finally {
      await registry.stopAll()
    }
    // anvil went down with its parent.
    await expect(rpc(info.rpcUrl, 'eth_chainId')).rejects.toThrow()
  }, 30_000)
})
