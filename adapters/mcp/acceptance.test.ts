/**
 * Issue 11 acceptance: the official MCP SDK client, over streamable HTTP (`/mcp`) and over stdio
 * (`agentswitch mcp`, a child process), against the dev-mode gateway with its sandbox rails (the
 * Alipay sandbox over HTTP, anvil with our EIP-3009 token). Every tool is called successfully on
 * both transports; each error path returns the right tool error.
 */
import { createHash, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { request } from 'undici'
import type { Address } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../core/util/paths.js'
import { devAccount, tokenBalance, type LocalChainInfo } from '../../sandbox/chain/anvil.js'
import { signAuthorization } from '../../sandbox/chain/payer.js'
import { startDev, type DevGateway } from '../cli/dev.js'

/** The Alipay sandbox's paying withholding agreement (dev mode prints it). */
const AGREEMENT = '20215000000000000001'
const CNY = 'iso4217:CNY'

type Transport = 'http' | 'stdio'

const text = (r: CallToolResult): string => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n')
/** The JSON a successful tool put after its one-line note. */
const json = <T = Record<string, unknown>>(r: CallToolResult): T => r.structuredContent as T

describe('issue 11 acceptance: payment MCP server against the dev-mode gateway (Alipay sandbox + anvil)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'agentswitch-mcp-'))
  let dev: DevGateway
  let chain: LocalChainInfo
  const clients: Client[] = []
  /** Per transport: agent keys (full, read-only), its wallet id. */
  const keys: Record<Transport, { agent: string; chainAgent: string; readOnly: string; wallet: string }> = {
    http: { agent: `ask_mcp_http_${randomUUID()}`, chainAgent: `ask_mcp_http_chain_${randomUUID()}`, readOnly: `ask_mcp_http_ro_${randomUUID()}`, wallet: 'wal_mcp_http' },
    stdio: { agent: `ask_mcp_stdio_${randomUUID()}`, chainAgent: `ask_mcp_stdio_chain_${randomUUID()}`, readOnly: `ask_mcp_stdio_ro_${randomUUID()}`, wallet: 'wal_mcp_stdio' },
  }

  const admin = async (method: 'POST' | 'GET', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await request(`${dev.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${dev.devJson.apiKeys.admin}`, 'content-type': 'application/json', ...(method === 'POST' ? { 'idempotency-key': randomUUID() } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: r.statusCode, body: (await r.body.json()) as Record<string, unknown> }
  }

  const connect = async (transport: Transport, key?: string): Promise<Client> => {
    const client = new Client({ name: `acceptance-${transport}`, version: '1.0.0' })
    if (transport === 'http') {
      await client.connect(new StreamableHTTPClientTransport(new URL(`${dev.url}/mcp`), key ? { requestInit: { headers: { authorization: `Bearer ${key}` } } } : {}))
    } else {
      const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', AGENTSWITCH_URL: dev.url }
      if (key) env['AGENTSWITCH_API_KEY'] = key
      await client.connect(new StdioClientTransport({ command: process.execPath, args: [fromRoot('bin', 'agentswitch.js'), 'mcp'], env, cwd: fromRoot(), stderr: 'pipe' }))
    }
    clients.push(client)
    return client
  }
  const call = async (c: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> => (await c.callTool({ name, arguments: args })) as CallToolResult

  beforeAll(async () => {
    dev = await startDev({ dataDir, port: 0, host: '127.0.0.1', logLevel: 'error', env: {}, sandboxes: true })
    chain = dev.devJson.rails['evm'] as LocalChainInfo
    const now = new Date()
    for (const t of ['http', 'stdio'] as const) {
      const put = async (key: string, principalId: string, scopes: string[]): Promise<void> =>
        dev.gateway.store.putApiKey({ hash: createHash('sha256').update(key).digest('hex'), id: `key_${principalId}_${scopes.length}`, kind: 'agent', principalId, scopes, createdAt: now })
      await put(keys[t].agent, `agent_mcp_${t}`, ['payments:write', 'wallets:read', 'tokens:write', 'approvals:read', 'refunds:write'])
      await put(keys[t].chainAgent, `agent_mcp_${t}_chain`, ['payments:write'])
      // May read its own wallet and approvals, may not pay, issue tokens or refund.
      await put(keys[t].readOnly, `agent_mcp_${t}`, ['wallets:read', 'approvals:read'])
      const w = await admin('POST', '/v1/wallets', {
        id: keys[t].wallet,
        user_id: `user_mcp_${t}`,
        agent_id: `agent_mcp_${t}`,
        asset: CNY,
        limits: { per_transaction: '50000', daily: '60000' },
        approval_threshold: '20000',
        funding: { instrument: { type: 'alipay.agreement', ref: AGREEMENT } },
      })
      expect(w.status, JSON.stringify(w.body)).toBe(201)
    }
  }, 90_000)

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})))
    await dev?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }, 30_000)

  for (const t of ['http', 'stdio'] as const) {
    describe(`over ${t}`, () => {
      let agent: Client
      let paidOnAlipay: string
      beforeAll(async () => {
        agent = await connect(t, keys[t].agent)
      }, 30_000)

      it('lists the eight tools', async () => {
        const { tools } = await agent.listTools()
        expect(tools.map((x) => x.name).sort()).toEqual(['create_payment', 'get_approval_status', 'get_payment', 'get_refund', 'get_wallet_budget', 'issue_scoped_token', 'list_capabilities', 'refund_payment'])
      })

      it('list_capabilities: the protocols, the sandbox rails with closed breakers, the assets', async () => {
        const r = await call(agent, 'list_capabilities')
        expect(r.isError, text(r)).toBeFalsy()
        const caps = json<{ protocols: Array<{ protocol: string }>; rails: Array<{ rail: string; instruments: string[]; available: boolean; endpoints: Array<{ state: string }> }>; assets: Array<{ id: string; decimals: number }> }>(r)
        expect(caps.protocols.map((p) => p.protocol)).toEqual(expect.arrayContaining(['gateway', 'acp', 'ucp', 'ap2', 'x402', 'mcp']))
        expect(caps.rails.find((x) => x.rail === 'alipay')).toMatchObject({ instruments: expect.arrayContaining(['alipay.agreement']), available: true })
        expect(caps.rails.find((x) => x.rail === 'evm')).toMatchObject({ instruments: expect.arrayContaining(['evm.eip3009']), available: true, endpoints: [{ state: 'closed' }] })
        expect(caps.assets.find((a) => a.id === chain.token.assetId)).toMatchObject({ decimals: 6 })
        expect(caps.assets.find((a) => a.id === CNY)).toMatchObject({ decimals: 2 })
      })

      it('create_payment settles on the Alipay sandbox (agreement); get_payment reads it; a retry with the same key replays it', async () => {
        const args = { amount: { value: '1999', asset: CNY }, instrument: { type: 'alipay.agreement', ref: AGREEMENT }, reference: `mcp-${t}-alipay-1`, idempotency_key: `mcp-${t}-pay-1` }
        const r = await call(agent, 'create_payment', args)
        expect(r.isError, text(r)).toBeFalsy()
        const intent = json<{ id: string; status: string; payer: { wallet_id?: string } }>(r)
        expect(intent.status).toBe('succeeded')
        paidOnAlipay = intent.id
        const again = await call(agent, 'create_payment', args)
        expect(json<{ id: string }>(again).id).toBe(intent.id)
        expect(text(again)).toContain('replayed')
        const got = await call(agent, 'get_payment', { payment_id: intent.id })
        expect(got.isError, text(got)).toBeFalsy()
        expect(json(got)).toMatchObject({ id: intent.id, status: 'succeeded', amount: { value: '1999', asset: CNY }, route: { rail: 'alipay' } })
      }, 30_000)

      it('get_wallet_budget shows the spend and what remains', async () => {
        const r = await call(agent, 'get_wallet_budget', { wallet_id: keys[t].wallet })
        expect(r.isError, text(r)).toBeFalsy()
        expect(json(r)).toMatchObject({ id: keys[t].wallet, asset: CNY, spent: { day: '1999' }, remaining: { day: String(60_000 - 1999) } })
      })

      it('create_payment settles on anvil (EIP-3009): the token moves on chain', async () => {
        const c = await connect(t, keys[t].chainAgent)
        const payer = chain.wallets[t === 'http' ? 0 : 1]!
        const payTo = devAccount(9).address as Address
        const before = await tokenBalance(chain.rpcUrl, chain.token.address as Address, payTo)
        const signed = await signAuthorization({ privateKey: payer.privateKey, chainId: chain.chainId, token: chain.token, to: payTo, value: 12_345n })
        const r = await call(c, 'create_payment', {
          amount: { value: '12345', asset: chain.token.assetId },
          instrument: { type: 'evm.eip3009', network: chain.network, credential: { ...signed, payTo } },
          reference: `mcp-${t}-evm-1`,
          idempotency_key: `mcp-${t}-evm-1`,
        })
        expect(r.isError, text(r)).toBeFalsy()
        expect(json(r)).toMatchObject({ status: 'succeeded', route: { rail: 'evm' } })
        expect(await tokenBalance(chain.rpcUrl, chain.token.address as Address, payTo)).toBe(before + 12_345n)
        expect(text(r)).not.toContain(signed.signature)
      }, 60_000)

      it('refund_payment refunds on the sandbox; get_refund reads it', async () => {
        const r = await call(agent, 'refund_payment', { payment_id: paidOnAlipay, amount: { value: '500', asset: CNY }, reason: 'customer asked', idempotency_key: `mcp-${t}-refund-1` })
        expect(r.isError, text(r)).toBeFalsy()
        const refund = json<{ id: string; status: string; intent_id: string }>(r)
        expect(refund).toMatchObject({ intent_id: paidOnAlipay, amount: { value: '500', asset: CNY } })
        expect(refund.id).toMatch(/^re_/)
        const got = await call(agent, 'get_refund', { refund_id: refund.id })
        expect(got.isError, text(got)).toBeFalsy()
        expect(json(got)).toMatchObject({ id: refund.id, status: 'succeeded' })
      }, 30_000)

      it('issue_scoped_token returns the token once; create_payment with it settles from the wallet\'s agreement', async () => {
        const r = await call(agent, 'issue_scoped_token', { merchant_id: 'demo', max_amount: { value: '3000', asset: CNY }, expires_in_seconds: 600, idempotency_key: `mcp-${t}-tok-1` })
        expect(r.isError, text(r)).toBeFalsy()
        const tok = json<{ id: string; token: string }>(r)
        expect(tok.token).toMatch(/^gwt_/)
        const paid = await call(agent, 'create_payment', { amount: { value: '2500', asset: CNY }, token: tok.token, reference: `mcp-${t}-tok-pay`, idempotency_key: `mcp-${t}-tok-pay` })
        expect(paid.isError, text(paid)).toBeFalsy()
        expect(json(paid)).toMatchObject({ status: 'succeeded', authorization: { type: 'gateway.token' } })
        expect(text(paid)).not.toContain(tok.token)
      }, 30_000)

      it('a payment over the approval threshold requires approval; get_approval_status says pending, without the approval link', async () => {
        const r = await call(agent, 'create_payment', { amount: { value: '25000', asset: CNY }, instrument: { type: 'alipay.agreement', ref: AGREEMENT }, reference: `mcp-${t}-big`, idempotency_key: `mcp-${t}-big` })
        expect(r.isError, text(r)).toBeFalsy()
        const intent = json<{ id: string; status: string }>(r)
        expect(intent.status).toBe('requires_approval')
        expect(text(r)).toContain('get_approval_status')
        const s = await call(agent, 'get_approval_status', { intent_id: intent.id })
        expect(s.isError, text(s)).toBeFalsy()
        expect(json(s)).toMatchObject({ intent_id: intent.id, status: 'pending' })
        expect(json(s)).not.toHaveProperty('approve_url')
        // A person approves; the agent's retry (same reference, new idempotency_key) settles it.
        const approved = await admin('POST', `/v1/approvals/${intent.id}/approve`, { note: 'ok' })
        expect(approved.status, JSON.stringify(approved.body)).toBe(200)
        expect(json(await call(agent, 'get_approval_status', { intent_id: intent.id }))).toMatchObject({ status: 'approved' })
        const settled = await call(agent, 'create_payment', { amount: { value: '25000', asset: CNY }, instrument: { type: 'alipay.agreement', ref: AGREEMENT }, reference: `mcp-${t}-big`, idempotency_key: `mcp-${t}-big-retry` })
        expect(settled.isError, text(settled)).toBeFalsy()
        expect(json(settled)).toMatchObject({ id: intent.id, status: 'succeeded' })
      }, 30_000)

      it('over budget: create_payment is the tool error GW_PAYMENT_DECLINED with the limit that refused it', async () => {
        const r = await call(agent, 'create_payment', { amount: { value: '60000', asset: CNY }, instrument: { type: 'alipay.agreement', ref: AGREEMENT }, reference: `mcp-${t}-over`, idempotency_key: `mcp-${t}-over` })
        expect(r.isError).toBe(true)
        expect(text(r)).toMatch(/^GW_PAYMENT_DECLINED: payment pi_\w+ was declined: per_transaction_limit_exceeded/)
        const daily = await call(agent, 'create_payment', { amount: { value: '19000', asset: CNY }, instrument: { type: 'alipay.agreement', ref: AGREEMENT }, reference: `mcp-${t}-day1`, idempotency_key: `mcp-${t}-day1` })
        expect(daily.isError, text(daily)).toBeFalsy()
        const over = await call(agent, 'create_payment', { amount: { value: '19000', asset: CNY }, instrument: { type: 'alipay.agreement', ref: AGREEMENT }, reference: `mcp-${t}-day2`, idempotency_key: `mcp-${t}-day2` })
        expect(over.isError).toBe(true)
        expect(text(over)).toMatch(/^GW_PAYMENT_DECLINED: payment pi_\w+ was declined: daily_limit_exceeded/)
      }, 30_000)

      it('a reused idempotency_key with other arguments is GW_IDEMPOTENCY_CONFLICT', async () => {
        const r = await call(agent, 'create_payment', { amount: { value: '2000', asset: CNY }, instrument: { type: 'alipay.agreement', ref: AGREEMENT }, reference: `mcp-${t}-alipay-1`, idempotency_key: `mcp-${t}-pay-1` })
        expect(r.isError).toBe(true)
        expect(text(r)).toMatch(/^GW_IDEMPOTENCY_CONFLICT: /)
        expect(text(r)).toContain('new idempotency_key')
      })

      it('wrong scope: a read-only key gets GW_FORBIDDEN for paying, issuing a token and refunding, but may read its budget', async () => {
        const ro = await connect(t, keys[t].readOnly)
        const pay = await call(ro, 'create_payment', { amount: { value: '100', asset: CNY }, instrument: { type: 'alipay.agreement', ref: AGREEMENT }, idempotency_key: `mcp-${t}-ro-1` })
        expect(text(pay)).toMatch(/^GW_FORBIDDEN: this key lacks the scope payments:write/)
        const tok = await call(ro, 'issue_scoped_token', { merchant_id: 'demo', max_amount: { value: '100', asset: CNY }, expires_in_seconds: 60, idempotency_key: `mcp-${t}-ro-2` })
        expect(text(tok)).toMatch(/^GW_FORBIDDEN: .*tokens:write/)
        const refund = await call(ro, 'refund_payment', { payment_id: paidOnAlipay, idempotency_key: `mcp-${t}-ro-3` })
        expect(refund.isError).toBe(true)
        expect(text(refund)).toMatch(/^GW_FORBIDDEN: /)
        const budget = await call(ro, 'get_wallet_budget', { wallet_id: keys[t].wallet })
        expect(budget.isError, text(budget)).toBeFalsy()
      }, 30_000)

      it('no key: tools list, but a call is the tool error GW_UNAUTHENTICATED', async () => {
        const anon = await connect(t)
        expect((await anon.listTools()).tools).toHaveLength(8)
        const r = await call(anon, 'get_wallet_budget', { wallet_id: keys[t].wallet })
        expect(r.isError).toBe(true)
        expect(text(r)).toMatch(/^GW_UNAUTHENTICATED: /)
      }, 30_000)
    })
  }
})
