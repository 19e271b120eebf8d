import express, { type Request, type Response } from 'express'
import type { KeyObject } from 'node:crypto'
import type { Logger } from 'pino'
import { isGatewayError } from '../../../core/errors/gatewayError.js'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { createAssetRegistry } from '../../../core/money/assets.js'
import { toAlipayYuan, toAntomAmount } from '../../../core/money/railFormats.js'
import { reconcileIntent, settlementKey } from '../../../core/pipeline/settleIntent.js'
import type { RailAdapter, RailOutcome } from '../../../core/rails/port.js'
import type { Store } from '../../../core/store/port.js'
import type { HttpAppDeps, Mount } from '../../http/app.js'
import { rawBody } from '../../http/context.js'
import type { AlipayRailOptions, AntomRailOptions } from './config.js'
import { loadPublicKey } from './keys.js'
import { intentIdFromOutTradeNo, outTradeNoFor } from './refs.js'
import { beijingToIso, verifyAntom, verifyNotification } from './signing.js'

export interface AlipayNotifyMountOptions {
  /** The Alipay rail's options (app id, Alipay public key, rail id, out_trade_no prefix). */
  alipay?: AlipayRailOptions | undefined
  /** The Antom rail's options (client id, Antom public key, rail id, request id prefix). */
  antom?: AntomRailOptions | undefined
  /** Paths (defaults `/rails/alipay/notify`, `/rails/antom/notify`). */
  alipayPath?: string | undefined
  antomPath?: string | undefined
}

const ANTOM_ACK = JSON.stringify({ result: { resultCode: 'SUCCESS', resultStatus: 'S', resultMessage: 'success' } })
const ANTOM_NACK = (msg: string): string => JSON.stringify({ result: { resultCode: 'PROCESS_FAIL', resultStatus: 'F', resultMessage: msg } })

/** A one-shot "rail" whose query answers what the signed notification said: reuses reconcileIntent's recording path. */
function notificationRail(rail: string, outcome: RailOutcome): RailAdapter {
  return {
    rail,
    instruments: [],
    settle: () => Promise.reject(new Error('a notification cannot settle')),
    query: () => Promise.resolve(outcome),
  }
}

type Verdict = { ack: true } | { ack: false; status: number; reason: string }

/**
 * Record a rail outcome carried by a signed notification on the intent it names, durably, and say
 * whether the notification may be acknowledged: only when the intent's stored status agrees.
 */
async function recordOutcome(deps: { store: Store; destinationsFor: HttpAppDeps['destinationsFor']; logger: Logger }, rail: string, intentId: string, outcome: RailOutcome, actor: string): Promise<Verdict> {
  for (let i = 0; i < 5; i++) {
    const stored = await deps.store.getIntent(intentId)
    if (!stored) return { ack: true }
    const status = stored.intent.status
    const paid = status === 'succeeded' || status === 'partially_refunded' || status === 'refunded'
    if (outcome.status === 'succeeded' && paid) return { ack: true }
    if (outcome.status === 'declined' && status === 'failed') return { ack: true }
    if (status !== 'processing') {
      if (outcome.status === 'succeeded' && status === 'failed') {
        // Money moved but the intent says failed: never acknowledge it away — ops must look.
        deps.logger.error({ intentId, rail, reference: outcome.reference }, 'rail notification reports a payment for an intent recorded as failed')
        return { ack: false, status: 409, reason: 'intent_failed_but_paid' }
      }
      if (outcome.status === 'declined' && paid) return { ack: true }
      return { ack: false, status: 409, reason: `intent_${status}` }
    }
    try {
      await reconcileIntent({ store: deps.store, destinationsFor: deps.destinationsFor }, { intentId, rail: notificationRail(rail, outcome), actor })
    } catch (err) {
      // A concurrent settle/reconcile got there first: read again and judge the stored result.
      if (isGatewayError(err) && (err.code === 'GW_INVALID_TRANSITION' || err.code === 'GW_INTENT_CONFLICT')) continue
      throw err
    }
  }
  return { ack: false, status: 503, reason: 'busy' }
}

/**
 * The rails' notification endpoints as a gateway {@link Mount}:
 *
 * - `POST /rails/alipay/notify` — Alipay's form POST (digest §2.4): the signature is verified
 *   (rsaCheckV1, then V2), `app_id`, the intent (from `out_trade_no`) and `total_amount` are
 *   checked, the result is recorded through `reconcileIntent`, and only then the 7 bytes `success`
 *   are answered. Anything else answers `fail` (Alipay retries).
 * - `POST /rails/antom/notify` — Antom's `notifyPayment`, signed like its answers; acknowledged with
 *   `{"result":{"resultStatus":"S",…}}` after the same recording.
 *
 * @example createGateway(config, { rails: [createAlipayRail(opts)], mounts: [alipayNotifyMount({ alipay: opts })] })
 */
export function alipayNotifyMount(o: AlipayNotifyMountOptions): Mount {
  const alipayKey: KeyObject | undefined = o.alipay ? loadPublicKey(o.alipay.alipayPublicKey, 'rails.alipay.alipayPublicKey') : undefined
  const antomKey: KeyObject | undefined = o.antom ? loadPublicKey(o.antom.antomPublicKey, 'rails.antom.antomPublicKey') : undefined
  const assets = createAssetRegistry()

  return (app, deps) => {
    const log = deps.logger.child({ component: 'rail-notify' })
    const ctx = { store: deps.store, destinationsFor: deps.destinationsFor, logger: log }

    if (o.alipay && alipayKey) {
      const opts = o.alipay
      const rail = opts.rail ?? 'alipay'
      const prefix = opts.outTradeNoPrefix ?? ''
      const fail = (res: Response, status: number, reason: string): void => {
        log.warn({ reason }, 'alipay notification not acknowledged')
        res.status(status).type('text/plain').send('fail')
      }
      app.post(o.alipayPath ?? '/rails/alipay/notify', express.text({ type: 'application/x-www-form-urlencoded', limit: '64kb' }), async (req: Request, res: Response) => {
        try {
          // Parse the form once; a second URL-decode would break the signature (digest §2.4).
          const form = Object.fromEntries(new URLSearchParams(typeof req.body === 'string' ? req.body : ''))
          if (!verifyNotification(form, alipayKey)) return fail(res, 400, 'bad_signature')
          if (form['app_id'] !== opts.appId) return fail(res, 400, 'other_app')
          if (opts.sellerId !== undefined && form['seller_id'] !== opts.sellerId) return fail(res, 400, 'other_seller')
          const outTradeNo = form['out_trade_no'] ?? ''
          const intentId = intentIdFromOutTradeNo(outTradeNo, prefix) ?? (form['passback_params'] && /^pi_[0-9A-Z]{26}$/.test(form['passback_params']) ? form['passback_params'] : undefined)
          const stored = intentId ? await deps.store.getIntent(intentId) : undefined
          if (!stored || outTradeNoFor(settlementKey(stored.intent), prefix) !== outTradeNo) {
            // Not a trade of ours: acknowledge so Alipay stops, and leave a trace.
            log.warn({ outTradeNo }, 'alipay notification for an unknown trade acknowledged')
            return void res.type('text/plain').send('success')
          }
          const outcome = alipayOutcome(form, stored.intent, (m) => toAlipayYuan(m, assets))
          if ('ignore' in outcome) return void res.type('text/plain').send('success')
          if ('mismatch' in outcome) {
            log.error({ outTradeNo, intentId: stored.intent.id }, 'alipay notification amount differs from the intent')
            return fail(res, 409, 'amount_mismatch')
          }
          const v = await recordOutcome(ctx, rail, stored.intent.id, outcome, `rail:${rail}:notify`)
          if (!v.ack) return fail(res, v.status, v.reason)
          res.type('text/plain').send('success')
        } catch (err) {
          log.error({ err }, 'alipay notification handling failed')
          if (!res.headersSent) res.status(500).type('text/plain').send('fail')
        }
      })
    }

    if (o.antom && antomKey) {
      const opts = o.antom
      const rail = opts.rail ?? 'antom'
      const prefix = opts.requestIdPrefix ?? ''
      const nack = (res: Response, status: number, reason: string): void => {
        log.warn({ reason }, 'antom notification not acknowledged')
        res.status(status).type('application/json').send(ANTOM_NACK(reason))
      }
      app.post(o.antomPath ?? '/rails/antom/notify', async (req: Request, res: Response) => {
        try {
          const raw = rawBody(req)?.toString('utf8') ?? ''
          // Antom signs the path of the notify URL it was given (a proxy may have rewritten ours).
          const signedPath = opts.notifyUrl ? new URL(opts.notifyUrl).pathname : req.path
          const ok =
            req.get('client-id') === opts.clientId &&
            verifyAntom({ httpMethod: 'POST', path: signedPath, clientId: opts.clientId, time: req.get('request-time') ?? '', body: raw, header: req.get('signature'), key: antomKey })
          if (!ok) return nack(res, 400, 'bad_signature')
          const body = JSON.parse(raw) as Record<string, unknown>
          if (body['notifyType'] !== 'PAYMENT_RESULT') return void res.type('application/json').send(ANTOM_ACK)
          const requestId = String(body['paymentRequestId'] ?? '')
          const intentId = intentIdFromOutTradeNo(requestId, prefix)
          const stored = intentId ? await deps.store.getIntent(intentId) : undefined
          if (!stored || outTradeNoFor(settlementKey(stored.intent), prefix) !== requestId) {
            log.warn({ paymentRequestId: requestId }, 'antom notification for an unknown payment acknowledged')
            return void res.type('application/json').send(ANTOM_ACK)
          }
          const result = body['result'] as { resultStatus?: string; resultCode?: string; resultMessage?: string } | undefined
          let outcome: RailOutcome
          if (result?.resultStatus === 'S') {
            const expect = toAntomAmount(stored.intent.settlement_amount ?? stored.intent.amount)
            const got = body['paymentAmount'] as { currency?: string; value?: string } | undefined
            if (got?.currency !== expect.currency || got?.value !== expect.value) return nack(res, 409, 'amount_mismatch')
            const t = typeof body['paymentTime'] === 'string' ? Date.parse(body['paymentTime']) : NaN
            outcome = { status: 'succeeded', reference: String(body['paymentId']), settledAt: Number.isFinite(t) ? new Date(t).toISOString() : new Date().toISOString(), endpoint: 'notify' }
          } else if (result?.resultStatus === 'F') {
            outcome = { status: 'declined', code: String(result.resultCode ?? 'FAIL'), message: String(result.resultMessage ?? '').slice(0, 200), endpoint: 'notify' }
          } else {
            return void res.type('application/json').send(ANTOM_ACK)
          }
          const v = await recordOutcome(ctx, rail, stored.intent.id, outcome, `rail:${rail}:notify`)
          if (!v.ack) return nack(res, v.status, v.reason)
          res.type('application/json').send(ANTOM_ACK)
        } catch (err) {
          log.error({ err }, 'antom notification handling failed')
          if (!res.headersSent) res.status(500).type('application/json').send(ANTOM_NACK('internal'))
        }
      })
    }
  }
}

/** What an Alipay `trade_status_sync` says about the intent's settlement. */
function alipayOutcome(form: Record<string, string>, intent: PaymentIntent, yuan: (m: NonNullable<PaymentIntent['amount']>) => string): RailOutcome | { ignore: true } | { mismatch: true } {
  // Partial/full refund notifications are about refunds (out_biz_no), not a new payment.
  if (form['out_biz_no']) return { ignore: true }
  const status = form['trade_status']
  const paid = status === 'TRADE_SUCCESS' || status === 'TRADE_FINISHED' || (status === 'TRADE_CLOSED' && !!form['gmt_payment'])
  if (paid) {
    let expect: string
    try {
      expect = yuan(intent.settlement_amount ?? intent.amount)
    } catch {
      return { mismatch: true }
    }
    if (form['total_amount'] !== expect || !form['trade_no']) return { mismatch: true }
    return {
      status: 'succeeded',
      reference: form['trade_no'],
      settledAt: beijingToIso(form['gmt_payment']) ?? new Date().toISOString(),
      endpoint: 'notify',
      ...(form['buyer_id'] ? { payer: form['buyer_id'] } : {}),
    }
  }
  if (status === 'TRADE_CLOSED') return { status: 'declined', code: 'TRADE_CLOSED', message: 'the trade was closed unpaid', endpoint: 'notify' }
  return { ignore: true }
}
