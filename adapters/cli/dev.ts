import { createHash, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { GatewayConfig } from '../../core/config/load.js'
import { fromRoot } from '../../core/util/paths.js'
import type { LocalChainInfo } from '../../sandbox/chain/anvil.js'
import { CHAIN_READY_LINE, parseChainReady } from '../../sandbox/chain/ready.js'
import { alipaySandboxChildSpec, parseAlipaySandboxReady, type AlipaySandboxReady } from '../../sandbox/alipay/childProcess.js'
import { devAlipayRailOptions } from '../rails/alipay/dev.js'
import { generateDevAlipayKeys } from '../rails/alipay/keys.js'
import type { DevAp2Json } from '../protocols/ap2/dev.js'
import type { Gateway } from '../gateway/createGateway.js'
import { ProcessRegistry } from './processRegistry.js'

/**
 * The gateway's modules, loaded while the sandbox children start (they are the slow part of
 * `npm start`; loading both in sequence would add their times).
 */
function loadGatewayModules() {
  return Promise.all([
    import('../../core/config/load.js'),
    import('../gateway/createGateway.js'),
    import('../protocols/ap2/dev.js'),
    import('../protocols/ap2/index.js'),
    import('../protocols/acp/index.js'),
    import('../protocols/ucp/mount.js'),
    import('../protocols/ucp/catalog.js'),
    import('../protocols/ucp/testing.js'),
    import('../protocols/x402/dev.js'),
    import('../protocols/x402/mount.js'),
    import('../../sandbox/chain/anvil.js'),
  ]).then(([config, gateway, ap2Dev, ap2, acp, ucp, ucpCatalog, ucpTesting, x402Dev, x402, anvil]) => ({
    parseConfig: config.parseConfig,
    createGateway: gateway.createGateway,
    GATEWAY_VERSION: gateway.GATEWAY_VERSION,
    devAp2Options: ap2Dev.devAp2Options,
    ap2Mount: ap2.ap2Mount,
    acp,
    ucp: { ...ucp, ...ucpCatalog, ...ucpTesting },
    x402: { ...x402Dev, ...x402 },
    devAccount: anvil.devAccount,
  }))
}

/** Demo credentials, generated once per data directory and kept in `dev-secrets.json` (0600). */
export interface DevSecrets {
  adminKey: string
  merchantKey: string
  agentKey: string
  webhookSecret: string
}

export interface DevOptions {
  /** Where the SQLite file, `dev.json` and `dev-secrets.json` live (default `./data`). */
  dataDir: string
  port: number
  host: string
  logLevel: GatewayConfig['log']['level']
  env: Readonly<Record<string, string | undefined>>
  /** Start the sandbox rails (local chain, Alipay sandbox) as child processes (default true). */
  sandboxes?: boolean | undefined
}

export interface DevGateway {
  gateway: Gateway
  url: string
  devJson: DevJson
  stop(): Promise<void>
}

/** What dev mode writes to `data/dev.json` for scripts and the conformance runner. */
export interface DevJson {
  version: string
  startedAt: string
  pid: number
  gateway: { url: string }
  urls: Record<string, string>
  apiKeys: { admin: string; merchant: string; agent: string }
  merchants: Array<{ id: string; name: string; webhookUrl?: string | undefined }>
  agents: Array<{ id: string }>
  store: { driver: 'sqlite'; path: string }
  processes: Array<{ name: string; pid: number }>
  /** Sandbox rails: the local chain (RPC URL, token, funded wallets) and the Alipay sandbox. */
  rails: Record<string, unknown>
  /** AP2 endpoints and the demo data the conformance runner uses. */
  ap2?: DevAp2Json | undefined
  acp?: { url: string; discovery: string } | undefined
  ucp?: { discovery: string; simulationSecret: string } | undefined
  /** Priced routes and the facilitator (`scripts/pay-demo.ts` and the conformance runner read it). */
  x402?: { routes: Array<{ id: string; method: string; url: string; price: { amount: string; asset: string }; settle: 'before' | 'after' }>; facilitator?: string | undefined } | undefined
  /** MPP challenges on the same priced routes (issue 9). */
  mpp?: { realm: string; method: 'evm'; intent: 'charge'; routes: string[] } | undefined
}

const key = (kind: string): string => `ask_dev_${kind}_${randomBytes(24).toString('base64url')}`

function loadSecrets(dataDir: string): DevSecrets {
  const file = join(dataDir, 'dev-secrets.json')
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DevSecrets
  const s: DevSecrets = { adminKey: key('admin'), merchantKey: key('merchant'), agentKey: key('agent'), webhookSecret: `whsec_${randomBytes(24).toString('base64url')}` }
  writeFileSync(file, JSON.stringify(s, null, 2) + '\n', { mode: 0o600 })
  chmodSync(file, 0o600)
  return s
}

/**
 * Dev mode (`npm start`): SQLite under `dataDir`, a demo merchant whose webhooks go to the built-in
 * sink, demo API keys, the registry of child processes for sandbox rails, and `dev.json`.
 */
export async function startDev(options: DevOptions): Promise<DevGateway> {
  const modules = loadGatewayModules()
  modules.catch(() => {})
  const dataDir = resolve(options.dataDir)
  mkdirSync(dataDir, { recursive: true })
  const secrets = loadSecrets(dataDir)
  const dbPath = join(dataDir, 'agentswitch.db')

  const registry = new ProcessRegistry((name, code) => {
    console.error(`[dev] ${name} exited unexpectedly (code ${code}); stopping`)
    void stop().then(() => process.exit(1))
  })

  const rails: DevJson['rails'] = {}
  let chain: LocalChainInfo | undefined
  let alipaySandbox: AlipaySandboxReady | undefined
  const alipayKeys = options.sandboxes !== false ? generateDevAlipayKeys() : undefined
  if (options.sandboxes !== false) {
    try {
      // Both sandboxes start in parallel: each is its own child process.
      const alipayChild = registry.start(
        alipaySandboxChildSpec({
          apps: [{ appId: alipayKeys!.appId, publicKeyPem: alipayKeys!.appPublicKeyPem, clientId: alipayKeys!.clientId }],
          alipayPrivateKeyPem: alipayKeys!.alipayPrivateKeyPem,
          edges: [{ name: 'primary' }, { name: 'secondary' }],
        }),
      )
      // Observed below; this keeps a failure while the chain starts from being an unhandled rejection.
      alipayChild.catch(() => {})
      const child = await registry.start({
        name: 'chain',
        command: process.execPath,
        args: ['--import', 'tsx', fromRoot('sandbox', 'chain', 'main.ts')],
        cwd: fromRoot(),
        readyLine: CHAIN_READY_LINE,
        readyTimeoutMs: 30_000,
      })
      chain = parseChainReady(child.ready[1]!)
      rails['evm'] = chain
      alipaySandbox = parseAlipaySandboxReady((await alipayChild).ready)
      rails['alipay'] = { sandboxUrl: alipaySandbox.url, adminUrl: alipaySandbox.adminUrl, edges: alipaySandbox.edges, appId: alipayKeys!.appId, clientId: alipayKeys!.clientId }
    } catch (e) {
      await registry.stopAll()
      throw e
    }
  }

  // The sink URL needs the port; with port 0 it is only known after listen, so bind first.
  const alipayRails = (port: number): Record<string, unknown> => {
    if (!alipaySandbox || !alipayKeys) return {}
    const o = devAlipayRailOptions({ keys: alipayKeys, sandbox: alipaySandbox, gatewayUrl: `http://127.0.0.1:${port}` })
    return { alipay: o.alipay, antom: o.antom }
  }
  const raw = (port: number): unknown => ({
    server: { host: options.host, port },
    store: { driver: 'sqlite', sqlite: { path: dbPath } },
    log: { level: options.logLevel },
    outbox: { pollIntervalMs: 200, backoffBaseMs: 500, backoffMaxMs: 60_000 },
    apiKeys: [
      { id: 'key_dev_admin', kind: 'admin', principalId: 'dev-admin', key: secrets.adminKey },
      { id: 'key_dev_merchant', kind: 'merchant', principalId: 'demo', key: secrets.merchantKey },
      { id: 'key_dev_agent', kind: 'agent', principalId: 'agent_demo', key: secrets.agentKey },
    ],
    merchants: [
      // payTo: where EIP-3009 payments made through POST /v1/payments go (the demo payout wallet).
      { id: 'demo', name: 'Demo Merchant', payTo: devAccount(9).address, webhook: { url: `http://127.0.0.1:${port}/dev/webhook-sink`, secret: secrets.webhookSecret } },
    ],
    agents: [{ id: 'agent_demo', name: 'Demo agent', userId: 'user_demo' }],
    dev: { webhookSink: true },
    // --- wallets (issue 10, W): wallet threshold notifications go to the dev webhook sink too ---
    wallets: { notifications: { url: `http://127.0.0.1:${port}/dev/webhook-sink`, secret: secrets.webhookSecret } },
    // --- scoped tokens (issue 10, T): an HMAC signing key derived from this data directory's dev secrets (dev only) ---
    tokens: { signingKeys: [{ id: 'dev1', secret: `tok_dev_${createHash('sha256').update(`tokens:${secrets.webhookSecret}`).digest('hex')}` }] },
    // --- routing and FX (issue 10, R): demo rates, so a USD or EUR price can be paid from a CNY Alipay agreement ---
    fx: { source: 'table', rates: [{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1' }, { from: 'iso4217:EUR', to: 'iso4217:CNY', rate: '7.7' }], spread_bps: 50, quote_ttl_seconds: 60 },
    rails: {
      ...alipayRails(port),
      ...(chain
      ? {
          evm: {
            chains: [
              {
                chainId: chain.chainId,
                network: chain.network,
                rpcUrls: [chain.rpcUrl],
                tokens: [{ address: chain.token.address, name: chain.token.name, version: chain.token.version, decimals: chain.token.decimals, assetId: chain.token.assetId }],
                // Anvil's public test mnemonic: a dev-only key, printed nowhere but dev.json (0600).
                relayerPrivateKey: chain.relayer.privateKey,
                feeCaps: { maxFeePerGas: '100000000000', maxPriorityFeePerGas: '2000000000' },
                receiptTimeoutMs: 15_000,
                pollingIntervalMs: 10,
                // Refunds (issue 10, D): the demo merchant refunds from the wallet its x402 sales go to.
                payoutWallets: { demo: devAccount(9).privateKey },
              },
            ],
          },
        }
      : {}),
    },
  })
  const port = options.port === 0 ? await freePort(options.host) : options.port
  const { parseConfig, createGateway, GATEWAY_VERSION, devAp2Options, ap2Mount, acp, ucp, x402, devAccount } = await modules
  const config = parseConfig(raw(port), options.env, 'dev mode')
  // AP2 trusts the keys the conformance runner derives from its default seed, so
  // `agentswitch conformance run --protocol ap2` works against dev mode as it is.
  const ap2 = devAp2Options({
    issuer: `http://127.0.0.1:${port}`,
    merchantId: 'demo',
    ...(chain ? { x402: { network: chain.network, asset: chain.token.assetId, payTo: chain.deployer.address } } : {}),
  })
  const base = `http://127.0.0.1:${port}`
  // ACP: the demo catalog; card vault (Antom sandbox), Alipay agreement and EIP-3009 handlers.
  acpDevFlowLinesFn = acp.acpDevFlowLines
  const acpOptions = acp.devAcpMountOptions({ merchantId: 'demo', secretSeed: secrets.webhookSecret, chain, alipay: alipaySandbox !== undefined })
  // UCP: the official suite's flower shop, the test-only mock handler plus EIP-3009 on the local chain.
  const ucpSimulationSecret = `sim_${secrets.webhookSecret.slice(-24)}`
  const ucpOptions = {
    merchantId: 'demo',
    publicBaseUrl: base,
    signingKey: ucp.generateUcpKey('dev-ucp'),
    catalog: ucp.staticCatalog(ucp.FLOWER_SHOP),
    handlers: [
      { kind: 'mock' as const, id: 'mock_payment_handler' },
      { kind: 'gateway.token' as const, id: 'gateway_token' }, // issue 10, T: scoped single-use tokens
      ...(chain
        ? [{ kind: 'evm.eip3009' as const, id: 'evm_local', network: chain.network, asset: chain.token.assetId, tokenDecimals: chain.token.decimals, payTo: devAccount(8).address, tokenName: chain.token.name, tokenVersion: chain.token.version }]
        : []),
    ],
    negotiation: { allowInsecureLocalhost: true },
    simulationSecret: ucpSimulationSecret,
    ap2: { enabled: true },
  }
  // x402: one priced route whose upstream is the gateway's own demo weather service.
  const x402Base = chain ? x402.devX402Options({ gatewayUrl: base, merchantId: 'demo', chain, payTo: devAccount(9).address }) : undefined
  // MPP (issue 9): the same priced routes also answer `WWW-Authenticate: Payment` (evm/charge); the
  // HMAC secret is derived from this data directory's dev secrets (stable across restarts, dev only).
  const mpp = await import('../protocols/mpp/index.js')
  const mppRealm = '127.0.0.1'
  const x402Options = x402Base
    ? { ...x402Base, offerProviders: [mpp.mppOfferProvider({ secret: `mpp_dev_${createHash('sha256').update(`mpp:${secrets.webhookSecret}`).digest('hex')}`, realm: mppRealm })] }
    : undefined
  let gateway: Gateway
  try {
    gateway = await createGateway(config, {
      webhookSinkSecret: secrets.webhookSecret,
      mounts: [
        ap2Mount(ap2.options),
        acp.acpMount(acpOptions),
        ucp.ucpMount(ucpOptions as Parameters<typeof ucp.ucpMount>[0]),
        ...(x402Options ? [x402.demoUpstreamMount(), x402.x402Mount(x402Options)] : []),
      ],
    })
  } catch (e) {
    await registry.stopAll()
    throw e
  }
  let url: string
  try {
    url = await gateway.listen()
  } catch (e) {
    await gateway.close()
    await registry.stopAll()
    const err = e as NodeJS.ErrnoException
    if (err.code === 'EADDRINUSE') throw new Error(`port ${port} is in use: stop the other process or set PORT`)
    throw e
  }

  const devJson: DevJson = {
    version: GATEWAY_VERSION,
    startedAt: new Date().toISOString(),
    pid: process.pid,
    gateway: { url },
    urls: {
      healthz: `${url}/healthz`,
      readyz: `${url}/readyz`,
      metrics: `${url}/metrics`,
      intents: `${url}/v1/intents`,
      webhookSink: `${url}/dev/webhook-sink`,
      mcp: `${url}/mcp`, // issue 11: the payment MCP server (streamable HTTP)
    },
    apiKeys: { admin: secrets.adminKey, merchant: secrets.merchantKey, agent: secrets.agentKey },
    merchants: config.merchants.map((m) => ({ id: m.id, name: m.name, webhookUrl: m.webhook?.url })),
    agents: config.agents.map((a) => ({ id: a.id })),
    store: { driver: 'sqlite', path: dbPath },
    processes: registry.children.map((c) => ({ name: c.name, pid: c.pid })),
    rails,
    ap2: ap2.devJson,
    acp: { url: `${url}/acp`, discovery: `${url}/.well-known/acp.json` },
    ucp: { discovery: `${url}/.well-known/ucp`, simulationSecret: ucpSimulationSecret },
    ...(x402Options ? { x402: x402.devX402Json(url, x402Options) } : {}),
    ...(x402Options ? { mpp: { realm: mppRealm, method: 'evm', intent: 'charge', routes: x402.devX402Json(url, x402Options).routes.map((r) => r.url) } } : {}),
  }
  writeFileSync(join(dataDir, 'dev.json'), JSON.stringify(devJson, null, 2) + '\n', { mode: 0o600 })

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await gateway.close()
      await registry.stopAll()
    })())
  return { gateway, url, devJson, stop }
}

async function freePort(host: string): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolvePort, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, host, () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolvePort(p))
    })
  })
}

/** The words dev mode prints: every URL, the demo keys and requests to copy and paste. */
export function describeDev(d: DevJson, dataDir: string): string {
  const u = d.gateway.url
  return [
    '',
    `agentswitch ${d.version} — dev mode`,
    `  gateway        ${u}`,
    `  health         ${d.urls['healthz']}   ready ${d.urls['readyz']}   metrics ${d.urls['metrics']}`,
    `  store          SQLite ${d.store.path}`,
    `  demo merchant  ${d.merchants[0]?.id} (webhooks → ${d.urls['webhookSink']})`,
    `  demo agent     ${d.agents[0]?.id}`,
    `  dev.json       ${join(dataDir, 'dev.json')} (URLs and demo keys, for scripts and the conformance runner)`,
    ...describeRails(d),
    '',
    '  API keys (dev only):',
    `    admin     ${d.apiKeys.admin}`,
    `    merchant  ${d.apiKeys.merchant}`,
    `    agent     ${d.apiKeys.agent}`,
    '',
    '  Try it:',
    `    curl -s ${u}/healthz`,
    `    curl -s -X POST ${u}/v1/intents -H 'Authorization: Bearer ${d.apiKeys.agent}' -H 'Idempotency-Key: demo-1' \\`,
    `      -H 'Content-Type: application/json' -d '{"amount":{"value":"1999","asset":"iso4217:USD"},"instrument":{"type":"alipay.agreement"},"reference":"order-1"}'`,
    `    curl -s '${u}/v1/intents?limit=5' -H 'Authorization: Bearer ${d.apiKeys.admin}'`,
    `    curl -s ${u}/dev/webhook-sink     # the signed webhooks the demo merchant received`,
    `    curl -s ${u}/.well-known/agent-card.json   # AP2 over A2A: ${d.ap2?.a2a ?? ''}`,
    `    curl -s ${u}/.well-known/ucp               # UCP discovery (REST under /ucp/v1)`,
    `    curl -s ${u}/.well-known/acp.json          # ACP (checkout API under /acp)`,
    // issue 11: the payment MCP server
    `    MCP (streamable HTTP): ${u}/mcp with 'Authorization: Bearer <agent key>'`,
    `    MCP (stdio):  AGENTSWITCH_URL=${u} AGENTSWITCH_API_KEY=${d.apiKeys.agent} node bin/agentswitch.js mcp`,
    ...(d.x402?.routes[0]
      ? [
          `    curl -si ${d.x402.routes[0].url} | grep -i payment-required     # x402: the 402 offer`,
          `    npx tsx scripts/pay-demo.ts              # x402: pay the route with the official @x402/fetch client and a dev wallet`,
        ]
      : []),
    ...(d.mpp?.routes[0]
      ? [
          `    curl -si ${d.mpp.routes[0]} | grep -i www-authenticate     # MPP: the Payment challenge (evm/charge) in the same 402`,
          `    npx tsx adapters/protocols/mpp/payDemo.ts   # MPP: pay the route with the official mppx client and a dev wallet`,
        ]
      : []),
    ...(d.acp ? ['', '  ACP checkout (card vault → Antom sandbox), paste into bash:', ...acpFlow(d, dataDir)] : []),
    '',
    `  Conformance:   node bin/agentswitch.js conformance run --protocol all --base-url ${u} --html r.html`,
    '',
  ].join('\n')
}

function describeRails(d: DevJson): string[] {
  const lines: string[] = []
  const alipay = d.rails['alipay'] as { sandboxUrl: string; adminUrl: string } | undefined
  if (alipay) {
    lines.push(`  alipay sandbox ${alipay.sandboxUrl} (gateway.do, v3, Antom; ledger ${alipay.adminUrl}/ledger)`)
    lines.push(`                 agreement 20215000000000000001 pays; card_tok_visa_4242 for Antom cards`)
  }
  const evm = d.rails['evm'] as LocalChainInfo | undefined
  if (evm) {
    lines.push(`  local chain    ${evm.rpcUrl} (chain ${evm.chainId}), token ${evm.token.symbol} ${evm.token.address}`)
    lines.push(`                 ${evm.wallets.length} funded test wallets in dev.json (rails.evm.wallets; dev keys only)`)
  }
  return lines
}

function acpFlow(d: DevJson, dataDir: string): string[] {
  return acpDevFlowLinesFn ? acpDevFlowLinesFn({ url: d.gateway.url, devJsonPath: join(dataDir, 'dev.json'), merchantId: 'demo' }).map((l) => `    ${l}`) : []
}

/** Set once the ACP module is loaded (describeDev is synchronous). */
let acpDevFlowLinesFn: ((p: { url: string; devJsonPath: string; merchantId: string }) => string[]) | undefined
