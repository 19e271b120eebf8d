import { createHash } from 'node:crypto'
import type { OutboxDestination } from '../../../core/events/outboxWorker.js'
import type { AcpMountOptions } from './options.js'

/**
 * Dev-mode wiring of the ACP surface (`npm start`): the options for the demo merchant and the
 * copy-paste flow dev mode prints. `adapters/cli/dev.ts` calls these (see the ACP README section).
 */
export interface DevAcpInput {
  /** The demo merchant id (`demo`). */
  merchantId: string
  /** A per-data-dir secret dev mode already has (e.g. its webhook secret): the vault key is derived from it. */
  secretSeed: string
  /** The local chain, when the sandboxes run (`dev.json` `rails.evm`). */
  chain?: { network: string; token: { address: string; name: string; version: string; decimals: number } } | undefined
  /** The merchant's receiving address for EIP-3009 payments (default: anvil dev account 9). */
  payTo?: string | undefined
  /** Whether the Alipay / Antom sandbox rails are configured. */
  alipay?: boolean | undefined
}

/** Anvil's dev account 9 (public test mnemonic): the demo merchant's payee on the local chain. */
export const DEV_PAY_TO = '0xa0Ee7A142d267C1f36714E4a8F75612F20a79720'

export function devAcpMountOptions(d: DevAcpInput): AcpMountOptions {
  return {
    merchantId: d.merchantId,
    // Dev only: a deterministic key per data dir, so tokens survive a restart. Production reads it from config ({ env }).
    vault: { encryptionKey: createHash('sha256').update(`acp-vault:${d.secretSeed}`).digest('hex') },
    handlers: {
      // gatewayToken (issue 10, T): scoped tokens charge the wallet's Alipay agreement.
      ...(d.alipay ? { card: {}, alipayAgreement: {}, gatewayToken: {} } : {}),
      ...(d.chain
        ? {
            eip3009: {
              network: d.chain.network,
              tokenAddress: d.chain.token.address,
              decimals: d.chain.token.decimals,
              eip712: { name: d.chain.token.name, version: d.chain.token.version },
              payTo: d.payTo ?? DEV_PAY_TO,
            },
          }
        : {}),
    },
  }
}

/**
 * Proposed (needs the createGateway change in the ACP README section): resolve
 * `acp-agent:<agentId>` outbox destinations to the agent's order-events URL, delivered with
 * `Merchant-Signature` once `OutboxDestination` carries a `signatureHeader`.
 */
export function acpAgentDestinations(agentWebhooks: Readonly<Record<string, { url: string; secret: string }>>, timeoutMs?: number): (name: string) => (OutboxDestination & { signatureHeader: string }) | undefined {
  return (name) => {
    if (!name.startsWith('acp-agent:')) return undefined
    const w = agentWebhooks[name.slice('acp-agent:'.length)]
    return w ? { url: w.url, secret: w.secret, signatureHeader: 'Merchant-Signature', ...(timeoutMs ? { timeoutMs } : {}) } : undefined
  }
}

/**
 * The copy-paste ACP flow dev mode prints (bash; reads the agent key from dev.json): create a
 * session, choose shipping, vault the Antom sandbox's test Visa, complete, and look at the signed
 * order webhooks in the dev sink. Tested by `dev.test.ts`, which runs exactly these lines.
 */
export function acpDevFlowLines(p: { url: string; devJsonPath: string; merchantId: string }): string[] {
  const u = p.url
  const json = (expr: string): string => `node -p 'const o=JSON.parse(require("fs").readFileSync(0,"utf8")); ${expr}'`
  return [
    `KEY=$(node -p "require('${p.devJsonPath}').apiKeys.agent"); RUN=$(date +%s)`,
    `H=(-H "Authorization: Bearer $KEY" -H 'API-Version: 2026-04-17' -H 'Content-Type: application/json')`,
    `CS=$(curl -s -X POST ${u}/acp/checkout_sessions "\${H[@]}" -H "Idempotency-Key: acp-$RUN-1" \\`,
    `  -d '{"currency":"usd","line_items":[{"id":"item_456"}],"capabilities":{"interventions":{"supported":[]}}}' | ${json('o.id')})`,
    `curl -s -X POST ${u}/acp/checkout_sessions/$CS "\${H[@]}" -H "Idempotency-Key: acp-$RUN-2" \\`,
    `  -d '{"fulfillment_details":{"name":"Jane Doe","address":{"name":"Jane Doe","line_one":"1 Market St","city":"San Francisco","state":"CA","country":"US","postal_code":"94105"}},"selected_fulfillment_options":[{"type":"shipping","option_id":"fulfillment_option_123","item_ids":["item_456"]}]}' | ${json('o.status + " total " + o.totals.find(t => t.type === "total").amount')}`,
    `VT=$(curl -s -X POST ${u}/acp/agentic_commerce/delegate_payment "\${H[@]}" -H "Idempotency-Key: acp-$RUN-3" \\`,
    `  -d '{"payment_method":{"type":"card","card_number_type":"fpan","number":"4242424242424242","exp_month":"12","exp_year":"2030","cvc":"123","display_card_funding_type":"credit","metadata":{}},"allowance":{"reason":"one_time","max_amount":2699,"currency":"usd","checkout_session_id":"'$CS'","merchant_id":"${p.merchantId}","expires_at":"2099-01-01T00:00:00Z"},"risk_signals":[],"metadata":{}}' | ${json('o.id')})`,
    `curl -s -X POST ${u}/acp/checkout_sessions/$CS/complete "\${H[@]}" -H "Idempotency-Key: acp-$RUN-4" \\`,
    `  -d '{"payment_data":{"handler_id":"card_vault","instrument":{"type":"card","credential":{"type":"spt","token":"'$VT'"}}}}' | ${json('o.status + " " + o.order.id')}`,
    `sleep 1; curl -s ${u}/dev/webhook-sink | ${json('o.data.filter(e => e.type.startsWith("order_")).map(e => e.type + " signature valid: " + e.valid).join("\\n")')}   # the signed order webhooks`,
  ]
}
