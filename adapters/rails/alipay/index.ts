/**
 * The Alipay-family rails (issue 5): Alipay Open Platform (v2 gateway.do + v3 REST, RSA2) and the
 * Antom-style cross-border API, on node:crypto + undici, behind one breaker per endpoint.
 * Named re-exports only; importing this registers nothing.
 */
export { buildAlipayRail, createAlipayRail, type AlipayAgreementCredential, type AlipayRail, type RailExtras, type RailFactoryContext } from './alipayRail.js'
export { buildAntomRail, createAntomRail, type AntomPaymentCredential, type AntomRail } from './antomRail.js'
export { AlipayOpenApiClient, isAlipayOk, type AlipayCallResult } from './openApiClient.js'
export { AntomClient, type AntomAnswer } from './antomClient.js'
export { parseAlipayRailsConfig, type AlipayRailOptions, type AntomRailOptions, type RailEndpointConfig } from './config.js'
export { devAlipayRailOptions, type DevSandboxInfo } from './dev.js'
export { generateDevAlipayKeys, loadPrivateKey, loadPublicKey, type DevAlipayKeys, type PrivateKeyFormat } from './keys.js'
export { alipayNotifyMount, type AlipayNotifyMountOptions } from './notifyMount.js'
export { intentIdFromOutTradeNo, outTradeNoFor, requestNoFor } from './refs.js'
export {
  antomSignContent,
  beijingTimestamp,
  rsa2Sign,
  rsa2Verify,
  signAntom,
  signV2,
  signV3Request,
  v2SignContent,
  verifyAntom,
  verifyNotification,
  verifyV2Response,
  verifyV3Response,
} from './signing.js'
export { RailCallError, RailUnavailableError, type RailCallErrorKind } from './transport.js'
