/**
 * The Alipay rail: (1) the rail client's v2 request signing and response verification against raw
 * node:crypto RSA-2048 sign / verify on the same bytes, in the same run; (2) end-to-end payments per
 * second against the sandbox (a child process on its own core): the rail alone (`settle`), and the
 * whole pipeline (submitIntent + authorize + settleIntent on SQLite, synchronous=FULL).
 *
 * `npm run bench -- alipay [--seconds N] [--concurrency C]`
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sign, verify } from 'node:crypto'
import { pino } from 'pino'
import { ProcessRegistry } from '../adapters/cli/processRegistry.js'
import { buildAlipayRail } from '../adapters/rails/alipay/alipayRail.js'
import { loadPrivateKey, loadPublicKey, generateDevAlipayKeys } from '../adapters/rails/alipay/keys.js'
import { rawTopLevelMembers } from '../adapters/rails/alipay/signing.js'
import { BreakerRegistry } from '../adapters/rails/shared/breakers.js'
import { createAssetRegistry } from '../core/money/assets.js'
import { settleIntent } from '../core/pipeline/settleIntent.js'
import { submitIntent } from '../core/pipeline/submitIntent.js'
import { transitionIntent } from '../core/pipeline/transitionIntent.js'
import { openSqliteStore } from '../core/store/sqlite/sqliteStore.js'
import { alipaySandboxChildSpec, parseAlipaySandboxReady } from '../sandbox/alipay/childProcess.js'
import { renderV2 } from '../sandbox/alipay/protocols.js'

/**
 * Two synchronous ops measured alternately in `rounds` slices (so CPU frequency drift and noisy
 * neighbours hit both alike); returns each one's ops per second over all its slices.
 */
function compare(a: () => unknown, b: () => unknown, seconds: number, rounds = 6): [number, number] {
  for (let i = 0; i < 200; i++) {
    a()
    b()
  }
  const count = [0, 0]
  const time = [0, 0]
  const slice = (seconds * 1000) / (2 * rounds)
  for (let r = 0; r < rounds; r++) {
    for (const [k, op] of [a, b].entries()) {
      const start = performance.now()
      const end = start + slice
      let n = 0
      while (performance.now() < end) {
        for (let i = 0; i < 10; i++) op()
        n += 10
      }
      count[k]! += n
      time[k]! += performance.now() - start
    }
  }
  return [count[0]! / (time[0]! / 1000), count[1]! / (time[1]! / 1000)]
}

/** Completed async ops per second from `concurrency` loops over `seconds`. */
async function arate(op: (i: number) => Promise<unknown>, concurrency: number, seconds: number): Promise<{ perSecond: number; count: number; p50ms: number; p99ms: number }> {
  for (let i = 0; i < 20; i++) await op(-i - 1)
  const lat: number[] = []
  let n = 0
  const start = performance.now()
  const end = start + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now()
        await op(n++)
        lat.push(performance.now() - t)
      }
    }),
  )
  lat.sort((a, b) => a - b)
  return {
    perSecond: lat.length / ((performance.now() - start) / 1000),
    count: lat.length,
    p50ms: Number((lat[Math.floor(lat.length * 0.5)] ?? 0).toFixed(2)),
    p99ms: Number((lat[Math.floor(lat.length * 0.99)] ?? 0).toFixed(2)),
  }
}

const r0 = (x: number): number => Math.round(x)

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const arg = (name: string, dflt: number): number => {
    const i = args.indexOf(name)
    return i >= 0 ? Number(args[i + 1]) || dflt : dflt
  }
  const seconds = arg('--seconds', 3)
  const concurrency = arg('--concurrency', 16)
  const keys = generateDevAlipayKeys()
  const appKey = loadPrivateKey(keys.appPrivateKeyPem)
  const aliKey = loadPrivateKey(keys.alipayPrivateKeyPem)
  const aliPub = loadPublicKey(keys.alipayPublicKeyPem)
  const logger = pino({ level: 'silent' })

  // --- 1. sign + verify: the client against raw node:crypto on the same bytes -------------------
  const benchRail = buildAlipayRail(
    { appId: keys.appId, privateKey: keys.appPrivateKeyPem, alipayPublicKey: keys.alipayPublicKeyPem, endpoints: [{ name: 'bench', url: 'http://127.0.0.1:9' }] },
    { breakers: new BreakerRegistry(), logger },
  )
  const client = benchRail.client
  const biz = { out_trade_no: 'pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F', total_amount: '88.88', subject: 'agentswitch payment', product_code: 'GENERAL_WITHHOLDING', agreement_params: { agreement_no: '20215000000000000001' } }
  const signed = client.signV2Request('alipay.trade.pay', biz, 'http://127.0.0.1:8402/rails/alipay/notify')
  const answer = renderV2(
    'alipay_trade_pay_response',
    {
      code: '10000',
      msg: 'Success',
      trade_no: '2026112122001400000000000001',
      out_trade_no: biz.out_trade_no,
      buyer_logon_id: 'bu***@example.com',
      buyer_user_id: '2088000000000001',
      total_amount: '88.88',
      receipt_amount: '88.88',
      buyer_pay_amount: '88.88',
      gmt_payment: '2026-11-21 12:00:00',
      fund_bill_list: [{ fund_channel: 'ALIPAYACCOUNT', amount: '88.88' }],
    },
    aliKey,
  ).body
  const signedText = rawTopLevelMembers(answer)!.get('alipay_trade_pay_response')!
  const sigBuf = Buffer.from(JSON.parse(rawTopLevelMembers(answer)!.get('sign')!) as string, 'base64')
  const reqBytes = Buffer.from(signed.signContent, 'utf8')
  const ansBytes = Buffer.from(signedText, 'utf8')
  console.log(`alipay bench: ${seconds} s per measurement (comparisons: ${2 * seconds} s, alternating), RSA-2048 SHA256withRSA; request sign string ${reqBytes.length} B, answer ${ansBytes.length} B`)

  const [rawSign, clientSign] = compare(
    () => sign('sha256', reqBytes, appKey),
    () => client.signV2Request('alipay.trade.pay', biz, 'http://127.0.0.1:8402/rails/alipay/notify'),
    2 * seconds,
  )
  const ans = { status: 200, headers: {}, body: answer }
  const [rawVerify, clientVerify] = compare(
    () => verify('sha256', ansBytes, aliPub, sigBuf),
    () => client.classifyV2('alipay.trade.pay', ans, 'bench'),
    2 * seconds,
  )
  await benchRail.shutdown()
  const crypto = {
    rawSignPerSec: r0(rawSign),
    clientSignPerSec: r0(clientSign),
    signRatio: Number((clientSign / rawSign).toFixed(3)),
    rawVerifyPerSec: r0(rawVerify),
    clientVerifyPerSec: r0(clientVerify),
    verifyRatio: Number((clientVerify / rawVerify).toFixed(3)),
  }
  console.log('(raw: node:crypto sign/verify on the pre-built bytes; client: build + sign the whole v2 request / extract + verify + parse + classify the answer)')
  console.log('                     raw node:crypto   rail client   client/raw')
  console.log(`sign (request)        ${String(crypto.rawSignPerSec).padStart(10)}/s  ${String(crypto.clientSignPerSec).padStart(10)}/s   ${crypto.signRatio}`)
  console.log(`verify (answer)       ${String(crypto.rawVerifyPerSec).padStart(10)}/s  ${String(crypto.clientVerifyPerSec).padStart(10)}/s   ${crypto.verifyRatio}`)

  // --- 2. end to end against the sandbox (child process) ------------------------------------------
  const registry = new ProcessRegistry((name, code) => console.error(`${name} exited (${code})`))
  const dir = mkdtempSync(join(tmpdir(), 'agentswitch-bench-alipay-'))
  const e2e: Record<string, unknown> = {}
  try {
    const child = await registry.start(alipaySandboxChildSpec({ apps: [{ appId: keys.appId, publicKeyPem: keys.appPublicKeyPem }], alipayPrivateKeyPem: keys.alipayPrivateKeyPem }))
    const sb = parseAlipaySandboxReady(child.ready)
    const breakers = new BreakerRegistry()
    const rail = buildAlipayRail({ appId: keys.appId, privateKey: keys.appPrivateKeyPem, alipayPublicKey: sb.alipayPublicKeyPem, endpoints: [{ name: 'primary', url: sb.url }] }, { breakers, logger })
    const store = openSqliteStore({ path: join(dir, 'bench.db') })
    await store.migrate()
    const assets = createAssetRegistry()
    const newIntent = async (i: number): Promise<string> => {
      const { intent } = await submitIntent(
        { store, assets },
        {
          merchantId: 'bench',
          actor: 'agent:bench',
          origin: { protocol: 'gateway', version: 'v1', ref: `b${i}-${Math.random()}` },
          payer: { agent_id: 'bench' },
          amount: { value: '8888', asset: 'iso4217:CNY' },
          instrument: { type: 'alipay.agreement', ref: '20215000000000000001' },
          authorization: { type: 'gateway.api_key' },
        },
      )
      await transitionIntent({ store }, { intentId: intent.id, event: 'authorize', actor: 'system:policy' })
      return intent.id
    }
    // (a) The rail alone: sign, HTTP, sandbox (verify, pay, sign), verify, classify.
    let seq = 0
    const base = (await store.getIntent(await newIntent(-1)))!.intent
    const railOnly = await arate(
      async () => {
        const o = await rail.settle({ intent: base, credential: undefined, amount: base.amount, idempotencyKey: `bench_${process.pid}_${++seq}` })
        if (o.status !== 'succeeded') throw new Error(`payment ${o.status}`)
      },
      concurrency,
      seconds,
    )
    // (b) The whole pipeline: durable intent, processing committed before the call, result recorded.
    const pipeline = await arate(
      async (i) => {
        const id = await newIntent(i)
        const { intent } = await settleIntent({ store }, { intentId: id, rail, credential: undefined, actor: 'system:bench' })
        if (intent.status !== 'succeeded') throw new Error(`payment ${intent.status}`)
      },
      concurrency,
      seconds,
    )
    const ledger = (await (await fetch(`${sb.adminUrl}/ledger?rail=alipay&kind=payment`)).json()) as { totals: Record<string, { paymentCount: number }>; paidTwice: string[] }
    e2e['railSettle'] = { paymentsPerSec: r0(railOnly.perSecond), count: railOnly.count, p50ms: railOnly.p50ms, p99ms: railOnly.p99ms }
    e2e['pipeline'] = { paymentsPerSec: r0(pipeline.perSecond), count: pipeline.count, p50ms: pipeline.p50ms, p99ms: pipeline.p99ms, store: 'sqlite synchronous=FULL' }
    e2e['sandboxLedgerPayments'] = ledger.totals['alipay:CNY']?.paymentCount ?? 0
    e2e['paidTwice'] = ledger.paidTwice.length
    console.log(`end to end, concurrency ${concurrency}:`)
    console.log(`  rail.settle              ${String(r0(railOnly.perSecond)).padStart(6)} payments/s  p50 ${railOnly.p50ms} ms  p99 ${railOnly.p99ms} ms`)
    console.log(`  submit+settleIntent      ${String(r0(pipeline.perSecond)).padStart(6)} payments/s  p50 ${pipeline.p50ms} ms  p99 ${pipeline.p99ms} ms`)
    await rail.shutdown()
    breakers.shutdown()
    await store.close()
  } finally {
    await registry.stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
  return { bench: 'alipay', seconds, concurrency, keyBits: 2048, crypto, e2e }
}
