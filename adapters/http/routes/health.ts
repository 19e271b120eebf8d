import { Router } from 'express'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import type { Store } from '../../../core/store/port.js'
import type { GatewayMetrics } from '../metrics.js'

/** `/healthz` (liveness), `/readyz` (the store answers within 2 s), `/metrics` (Prometheus). */
export function healthRoutes(deps: { store: Store; metrics: GatewayMetrics; version: string }): Router {
  const r = Router()
  r.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', version: deps.version })
  })
  r.get('/readyz', async (_req, res) => {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        deps.store.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('store ping timed out after 2 s')), 2000)
        }),
      ])
    } catch (e) {
      throw new GatewayError('GW_STORE_UNAVAILABLE', `the ${deps.store.dialect} store does not answer`, { cause: e })
    } finally {
      clearTimeout(timer)
    }
    res.json({ status: 'ok', store: deps.store.dialect, version: deps.version })
  })
  r.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', deps.metrics.registry.contentType)
    res.send(await deps.metrics.registry.metrics())
  })
  return r
}
