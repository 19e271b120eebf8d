import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../core/util/paths.js'
import { loadApiSchemas } from '../http/apiSchemas.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../testing/testGateway.js'

/** A key that may only read (no payments:write, no intents:write). */
const READ_ONLY_AGENT_KEY = 'ask_test_agent_readonly_000000000000000'

async function httpClient(url: string, key?: string): Promise<Client> {
  const client = new Client({ name: 'mcp-test', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), key ? { requestInit: { headers: { authorization: `Bearer ${key}` } } } : {})
  await client.connect(transport)
  return client
}

async function stdioClient(url: string, key?: string, options: { viaFlag?: boolean } = {}): Promise<Client> {
  const client = new Client({ name: 'mcp-test-stdio', version: '1.0.0' })
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '' }
  if (!options.viaFlag) env['AGENTSWITCH_URL'] = url
  if (key) env['AGENTSWITCH_API_KEY'] = key
  const args = [fromRoot('bin', 'agentswitch.js'), 'mcp', ...(options.viaFlag ? ['--base-url', url] : [])]
  const transport = new StdioClientTransport({ command: process.execPath, args, env, cwd: fromRoot(), stderr: 'pipe' })
  await client.connect(transport)
  return client
}

const text = (r: CallToolResult): string => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n')
const call = async (c: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> => (await c.callTool({ name, arguments: args })) as CallToolResult

async function createIntent(url: string, key: string, reference: string): Promise<{ id: string }> {
  const r = await request(`${url}/v1/intents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'idempotency-key': `idem-${reference}`, 'content-type': 'application/json' },
    body: JSON.stringify({ merchant_id: 'm1', amount: { value: '1999', asset: 'iso4217:USD' }, instrument: { type: 'alipay.agreement' }, reference }),
  })
  expect(r.statusCode).toBe(201)
  return (await r.body.json()) as { id: string }
}

describe('payment MCP server: tools, transports, auth passthrough (in-process gateway)', () => {
  let gw: TestGateway
  const clients: Client[] = []
  beforeAll(async () => {
    gw = await startTestGateway({
      configPatch: {
        apiKeys: [
          { id: 'k_admin', kind: 'admin', principalId: 'ops', key: TEST_KEYS.admin },
          { id: 'k_merchant', kind: 'merchant', principalId: 'm1', key: TEST_KEYS.merchant },
          { id: 'k_agent', kind: 'agent', principalId: 'agent_1', key: TEST_KEYS.agent },
          { id: 'k_agent2', kind: 'agent', principalId: 'agent_2', key: TEST_KEYS.otherAgent },
          { id: 'k_agent_ro', kind: 'agent', principalId: 'agent_1', key: READ_ONLY_AGENT_KEY, scopes: ['wallets:read', 'approvals:read'] },
        ],
      },
    })
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})))
    await gw?.close()
  })
  const track = (c: Client): Client => (clients.push(c), c)

  it('lists the eight tools, each with a description and an object input schema; money-moving ones require idempotency_key', async () => {
    const c = track(await httpClient(gw.url, TEST_KEYS.agent))
    expect(c.getServerVersion()).toMatchObject({ name: 'agentswitch' })
    const { tools } = await c.listTools()
    expect(tools.map((t) => t.name)).toEqual(['create_payment', 'get_payment', 'refund_payment', 'get_refund', 'get_wallet_budget', 'issue_scoped_token', 'get_approval_status', 'list_capabilities'])
    for (const t of tools) {
      expect(t.description!.length, t.name).toBeGreaterThan(40)
      expect(t.inputSchema.type).toBe('object')
    }
    const byName = new Map(tools.map((t) => [t.name, t]))
    for (const name of ['create_payment', 'refund_payment', 'issue_scoped_token']) expect(byName.get(name)!.inputSchema.required, name).toContain('idempotency_key')
    for (const name of ['get_payment', 'get_refund', 'get_wallet_budget', 'get_approval_status', 'list_capabilities']) {
      expect(byName.get(name)!.inputSchema.properties ?? {}, name).not.toHaveProperty('idempotency_key')
      expect(byName.get(name)!.annotations?.readOnlyHint, name).toBe(true)
    }
    const amount = (byName.get('create_payment')!.inputSchema.properties as Record<string, { properties: Record<string, { pattern?: string; description?: string }> }>)['amount']!
    expect(amount.properties['value']!.pattern).toBeDefined()
    expect(amount.properties['value']!.description).toMatch(/minor units/)
    expect(amount.properties['asset']!.description).toMatch(/iso4217:USD/)
  })

  it('list_capabilities: protocols mounted, rails, and assets with their decimals', async () => {
    const c = track(await httpClient(gw.url, TEST_KEYS.agent))
    const r = await call(c, 'list_capabilities')
    expect(r.isError).toBeFalsy()
    const body = JSON.parse(text(r)) as { protocols: Array<{ protocol: string }>; rails: unknown[]; assets: Array<{ id: string; decimals: number }> }
    expect(body.protocols.map((p) => p.protocol)).toEqual(['gateway', 'mcp'])
    expect(body.rails).toEqual([])
    expect(body.assets.find((a) => a.id === 'iso4217:USD')).toMatchObject({ decimals: 2 })
    expect(body.assets.find((a) => a.id === 'iso4217:JPY')).toMatchObject({ decimals: 0 })
    expect(r.structuredContent).toMatchObject({ protocols: body.protocols })
    // The answer is what the OpenAPI document says GET /v1/capabilities returns.
    expect(() => loadApiSchemas().assert('Capabilities', body)).not.toThrow()
  })

  it('get_payment returns the agent\'s own payment; another agent\'s key gets GW_NOT_FOUND', async () => {
    const intent = await createIntent(gw.url, TEST_KEYS.agent, 'mcp-get-1')
    const mine = track(await httpClient(gw.url, TEST_KEYS.agent))
    const r = await call(mine, 'get_payment', { payment_id: intent.id })
    expect(r.isError).toBeFalsy()
    expect(JSON.parse(text(r))).toMatchObject({ id: intent.id, status: 'created', amount: { value: '1999', asset: 'iso4217:USD' } })
    const other = track(await httpClient(gw.url, TEST_KEYS.otherAgent))
    const r2 = await call(other, 'get_payment', { payment_id: intent.id })
    expect(r2.isError).toBe(true)
    expect(text(r2)).toMatch(/^GW_NOT_FOUND: no intent pi_/)
  })

  it('no key: listing works, every tool call is the tool error GW_UNAUTHENTICATED (HTTP and stdio)', async () => {
    const http = track(await httpClient(gw.url))
    expect((await http.listTools()).tools).toHaveLength(8)
    for (const [name, args] of [
      ['list_capabilities', {}],
      ['get_payment', { payment_id: 'pi_01J00000000000000000000000' }],
      ['create_payment', { amount: { value: '100', asset: 'iso4217:USD' }, instrument: { type: 'alipay.agreement' }, idempotency_key: 'k-noauth' }],
    ] as const) {
      const r = await call(http, name, args)
      expect(r.isError, name).toBe(true)
      expect(text(r), name).toMatch(/^GW_UNAUTHENTICATED: /)
      expect(text(r), name).toContain('AGENTSWITCH_API_KEY')
    }
    const bad = track(await httpClient(gw.url, 'ask_not_a_real_key_000000000000'))
    expect(text(await call(bad, 'list_capabilities'))).toMatch(/^GW_UNAUTHENTICATED: /)
    const stdio = track(await stdioClient(gw.url))
    const r = await call(stdio, 'list_capabilities')
    expect(r.isError).toBe(true)
    expect(text(r)).toMatch(/^GW_UNAUTHENTICATED: /)
  }, 30_000)

  it('money-moving tools refuse to run without idempotency_key (GW_IDEMPOTENCY_KEY_REQUIRED); bad arguments are GW_SCHEMA_INVALID with the path', async () => {
    const c = track(await httpClient(gw.url, TEST_KEYS.agent))
    const r = await call(c, 'create_payment', { amount: { value: '100', asset: 'iso4217:USD' }, instrument: { type: 'alipay.agreement' } })
    expect(r.isError).toBe(true)
    expect(text(r)).toMatch(/^GW_IDEMPOTENCY_KEY_REQUIRED: create_payment moves money/)
    const r2 = await call(c, 'refund_payment', { payment_id: 'pi_01J00000000000000000000000' })
    expect(text(r2)).toMatch(/^GW_IDEMPOTENCY_KEY_REQUIRED: /)
    const r3 = await call(c, 'create_payment', { amount: { value: '19.99', asset: 'iso4217:USD' }, instrument: { type: 'alipay.agreement' }, idempotency_key: 'k1' })
    expect(r3.isError).toBe(true)
    expect(text(r3)).toMatch(/^GW_SCHEMA_INVALID: invalid arguments for create_payment: amount\.value: /)
    const r4 = await call(c, 'get_payment', { payment_id: 'nope' })
    expect(text(r4)).toMatch(/^GW_SCHEMA_INVALID: invalid arguments for get_payment: payment_id: /)
    const r5 = await call(c, 'no_such_tool')
    expect(text(r5)).toMatch(/^GW_NOT_FOUND: no tool no_such_tool/)
  })

  it('stdio: `agentswitch mcp` lists the same tools and calls the gateway with AGENTSWITCH_API_KEY', async () => {
    const intent = await createIntent(gw.url, TEST_KEYS.agent, 'mcp-stdio-1')
    const c = track(await stdioClient(gw.url, TEST_KEYS.agent))
    expect((await c.listTools()).tools.map((t) => t.name)).toContain('create_payment')
    const r = await call(c, 'get_payment', { payment_id: intent.id })
    expect(r.isError).toBeFalsy()
    expect(JSON.parse(text(r))).toMatchObject({ id: intent.id })
  }, 30_000)

  it('the gateway being down (--base-url) is GW_GATEWAY_UNREACHABLE, not a crash', async () => {
    const c = track(await stdioClient('http://127.0.0.1:1', TEST_KEYS.agent, { viaFlag: true }))
    const r = await call(c, 'list_capabilities')
    expect(r.isError).toBe(true)
    expect(text(r)).toMatch(/^GW_GATEWAY_UNREACHABLE: no answer from the gateway/)
  }, 30_000)

  it('GET /mcp is 405 (stateless server: no stream to resume)', async () => {
    const r = await request(`${gw.url}/mcp`, { headers: { accept: 'text/event-stream' } })
    expect(r.statusCode).toBe(405)
    expect(((await r.body.json()) as { error: { code: number } }).error.code).toBe(-32000)
  })

  it('secrets: the agent key never appears in a tool result or the gateway log', async () => {
    const c = track(await httpClient(gw.url, READ_ONLY_AGENT_KEY))
    const r = await call(c, 'list_capabilities')
    expect(JSON.stringify(r)).not.toContain(READ_ONLY_AGENT_KEY)
    expect(gw.logs.join('\n')).not.toContain(READ_ONLY_AGENT_KEY)
    expect(gw.logs.join('\n')).not.toContain(TEST_KEYS.agent)
  })
})
