import { Router } from 'express'
import type { RailRegistry } from '../../../core/rails/port.js'
import type { BreakerRegistry } from '../../rails/shared/breakers.js'
import { requireAuth, type Authenticator } from '../auth.js'

/** `GET /v1/rails`: registered rails and the state of every endpoint breaker (admin keys). */
export function railRoutes(deps: { auth: Authenticator; rails: RailRegistry; breakers: BreakerRegistry }): Router {
  const r = Router()
  r.get('/rails', requireAuth(deps.auth, { kinds: ['admin'] }), (_req, res) => {
    const breakers = deps.breakers.list()
    res.json({
      data: deps.rails.list().map((rail) => ({
        rail: rail.rail,
        instruments: rail.instruments,
        endpoints: breakers.filter((b) => b.rail === rail.rail).map(({ endpoint, state, failures, successes, rejects, opens }) => ({ endpoint, state, failures, successes, rejects, opens })),
      })),
    })
  })
  return r
}
