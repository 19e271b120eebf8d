/**
 * Pay the dev-mode demo priced route over MPP with the OFFICIAL `mppx` client (`evm.charge`, our
 * token's EIP-712 name and version) and a funded dev wallet. Reads `dev.json` from
 * $AGENTSWITCH_DATA_DIR or ./data (written by `npm start`).
 *
 *   npx tsx adapters/protocols/mpp/payDemo.ts [route-url]
 *
 * Prints the MPP challenge, the paid answer, the receipt (parsed by mppx) and the wallet's balance
 * before and after. Exit 0 when the payment went through (HTTP 200), else 1. Dev keys only.
 */
import { Challenge, Receipt } from 'mppx'
import { Mppx, evm as mppxEvm } from 'mppx/client'
import { createPublicClient, erc20Abi, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { readDevChainOrExit } from '../../../sandbox/chain/devJson.js'

const { dev, evm } = readDevChainOrExit()
const wallet = evm.wallets[1] ?? evm.wallets[0]!
const url = process.argv[2] ?? dev.x402?.routes?.[0]?.url ?? `${dev.gateway.url}/paid/weather`
const chain = createPublicClient({ transport: http(evm.rpcUrl) })
const balance = (): Promise<bigint> => chain.readContract({ address: evm.token.address, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] })

const offer = await fetch(url)
await offer.arrayBuffer()
console.log(`GET ${url} → ${offer.status}`)
for (const c of offer.status === 402 ? Challenge.fromResponseList(offer) : []) console.log(`  challenge: ${c.method}/${c.intent} ${JSON.stringify(c.request)} expires ${c.expires}`)

const mppx = Mppx.create({
  polyfill: false,
  methods: [mppxEvm.charge({ account: privateKeyToAccount(wallet.privateKey), authorization: { name: evm.token.name ?? 'Agentswitch USD', version: evm.token.version ?? '2' }, networks: [evm.chainId], maxAtomicAmount: '1000000' })],
})
const before = await balance()
const res = await mppx.fetch(url)
const body = await res.text()
console.log(`paid GET ${url} → ${res.status}`)
console.log(`  body: ${body.slice(0, 300)}`)
if (res.headers.get('payment-receipt')) console.log(`  Payment-Receipt: ${JSON.stringify(Receipt.fromResponse(res))}`)
console.log(`  wallet ${wallet.address}: ${before} → ${await balance()} token units`)
process.exit(res.status === 200 ? 0 : 1)
