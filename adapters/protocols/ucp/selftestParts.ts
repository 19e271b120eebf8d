import type { Mount } from '../../http/app.js'
import { FLOWER_SHOP, staticCatalog } from './catalog.js'
import { ucpMount } from './mount.js'
import { generateUcpKey } from './testing.js'

/**
 * The UCP mount as the conformance selftest runs it: the official suite's flower shop, the
 * testing-only `mock_payment_handler`, loopback http profiles allowed, AP2 advertised, simulation
 * endpoint on. Never used outside tests.
 */
export function ucpSelftestMount(publicBaseUrl: string, merchantId = 'm1'): Mount {
  return ucpMount({
    merchantId,
    publicBaseUrl,
    signingKey: generateUcpKey('selftest-ucp'),
    catalog: staticCatalog(FLOWER_SHOP),
    handlers: [{ kind: 'mock', id: 'mock_payment_handler' }],
    negotiation: { allowInsecureLocalhost: true },
    simulationSecret: 'selftest-simulation-secret',
    ap2: { enabled: true },
  })
}
