import type { Logger } from 'pino'
import type { Store } from '../../../core/store/port.js'
import type { BreakerRegistry } from '../shared/breakers.js'
import { createEvmRail, type CreateEvmRailOptions, type EvmRail } from './evmRail.js'

/** What `createGateway` hands every rail factory (`CreateGatewayOptions.rails`). */
export interface RailFactoryContext {
  breakers: BreakerRegistry
  logger: Logger
  store: Store
}

/** The EVM rail's configuration without what the gateway provides. */
export type EvmRailConfig = Omit<CreateEvmRailOptions, 'breakers' | 'logger' | 'store'>

/**
 * The factory for `createGateway(config, { rails: [registerEvmRail(evmConfig)] })`: the rail is
 * built with the gateway's breaker registry (one breaker per RPC URL, visible in `/metrics` and
 * `/v1/rails`), logger and store (replay locks), and registered by the composition root, never
 * on import. `onCreated` receives the rail (e.g. for the x402 facilitator's `verifyAuthorization`);
 * `gateway.rails.get('evm')` with {@link isEvmRail} works too.
 *
 * @example
 * const gateway = await createGateway(config, { rails: [registerEvmRail({ chains: [chain] })] })
 */
export function registerEvmRail(config: EvmRailConfig, hooks: { onCreated?: ((rail: EvmRail) => void) | undefined } = {}): (ctx: RailFactoryContext) => EvmRail {
  return (ctx) => {
    const rail = createEvmRail({ ...config, breakers: ctx.breakers, logger: ctx.logger, store: ctx.store })
    hooks.onCreated?.(rail)
    return rail
  }
}
