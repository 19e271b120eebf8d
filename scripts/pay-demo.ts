/**
 * Pay the dev-mode demo priced route with the OFFICIAL x402 client (`@x402/fetch` + `@x402/evm`)
 * and a funded dev wallet, as an agent would. Reads `dev.json` from $AGENTSWITCH_DATA_DIR or
 * ./data (written by `npm start`): the gateway URL, the route, the local chain and its wallets.
 *
 *   npx tsx scripts/pay-demo.ts [route-url]
 *
 * Prints the 402 offer, the paid answer, the decoded PAYMENT-RESPONSE and the wallet's balance
 * before and after. Exit 0 when the payment went through (HTTP 200), else 1. Dev keys only.
 */
import { registerExactEvmScheme } from '@x402/evm/exact/client'
import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from '@x402/fetch'
import { createPublicClient, erc20Abi, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { readDevChainOrExit } from '../sandbox/chain/devJson.js'

const { dev, evm } = readDevChainOrExit()
const route = dev.x402?.routes?.[0]
const url = process.argv[2] ?? route?.url ?? `${dev.gateway.url}${route?.path ?? '/paid/weather'}`
const wallet = evm.wallets[0]!
const network = `eip155:${evm.chainId}` as const

const chain = createPublicClient({ transport: http(evm.rpcUrl) })
const balance = (): Promise<bigint> => chain.readContract({ address: evm.token.address, abi: erc20Abi, functionName: 'balanceOf', args: [wallet.address] })

// The official client pays only known stablecoins unless told otherwise (spend controls): allow the sandbox token.
const client = new x402Client()
registerExactEvmScheme(client, { signer: privateKeyToAccount(wallet.privateKey) })
client.setSpendControls({ allowedAssets: [{ network, asset: evm.token.address, maxAmountPerPayment: '1000000' }] })
const pay = wrapFetchWithPayment(fetch, client)

const offer = await fetch(url)
await offer.arrayBuffer()
console.log(`GET ${url} → ${offer.status}`)
const header = offer.headers.get('payment-required')
if (header) {
  const pr = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as { accepts: Array<{ amount: string; asset: string; network: string; payTo: string }> }
  for (const a of pr.accepts) console.log(`  offer: ${a.amount} units of ${a.asset} on ${a.network} to ${a.payTo}`)
}

const before = await balance()
const res = await pay(url)
const body = await res.text()
const after = await balance()
console.log(`paid GET ${url} → ${res.status}`)
console.log(`  body: ${body.slice(0, 500)}`)
const receipt = res.headers.get('payment-response')
if (receipt) console.log(`  PAYMENT-RESPONSE: ${JSON.stringify(decodePaymentResponseHeader(receipt))}`)
console.log(`  wallet ${wallet.address}: ${before} → ${after} (paid ${before - after} units of ${evm.token.symbol ?? evm.token.address})`)
process.exit(res.status === 200 ? 0 : 1)
