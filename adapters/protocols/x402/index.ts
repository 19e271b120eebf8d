/**
 * @module adapters/protocols/x402 — x402 v1 + v2: the resource server of priced routes and the
 * facilitator, settled on the EVM rail. Entry point: named re-exports only.
 */
export { x402Mount, type X402Config, type X402Options } from './mount.js'
export { createX402ResourceServer, type RouteOffer, type X402ResourceServer, type X402ResourceServerOptions } from './resourceServer.js'
export { facilitatorRouter, PENDING_NAMESPACE, supportedKinds, type X402FacilitatorOptions } from './facilitator.js'
export { decodeHeaderJson, encodeHeaderJson, STANDARD_BASE64, type DecodeHeaderResult } from './encoding.js'
export { chainIdOf, V1_EVM_NETWORKS, v1Networks, type V1Networks } from './networks.js'
export { PAYMENT_REQUIRED_TEXT, toX402Reason, X402Reason, type X402ReasonCode } from './reasons.js'
export { declarePaymentIdentifier, PAYMENT_IDENTIFIER, paymentIdOf } from './paymentIdentifier.js'
export {
  acceptedMatches,
  encodePaymentRequired,
  encodeSettleResponse,
  parsePaymentPayloadV2,
  parsePaymentSignatureHeader,
  PAYMENT_REQUIRED_HEADER,
  PAYMENT_RESPONSE_HEADER,
  PAYMENT_SIGNATURE_HEADER,
  type PaymentPayloadV2,
  type PaymentRequiredV2,
  type PaymentRequirementsV2,
  type ResourceInfo,
  type SettleResponse,
  type VerifyResponse,
} from './v2/wire.js'
export {
  encodeXPaymentResponse,
  parsePaymentPayloadV1,
  parseXPaymentHeader,
  X_PAYMENT_HEADER,
  X_PAYMENT_RESPONSE_HEADER,
  type PaymentPayloadV1,
  type PaymentRequiredV1,
  type PaymentRequirementsV1,
} from './v1/wire.js'
export { DELIVERY_NAMESPACE, pricedRoutes, type PricedRoutesDeps } from './pricedRoutes/middleware.js'
export { compileRoutes, findRoute } from './pricedRoutes/routes.js'
export { UpstreamClient } from './pricedRoutes/upstream.js'
export type { HttpAnswer, OfferChallenge, OfferProvider, PricedCall, PricedRoute, PricedRouteConfig, UpstreamResult } from './pricedRoutes/types.js'
export { demoUpstreamMount, describeDevX402, devX402Json, devX402Options, DEMO_ROUTE_PATH, type DevX402Chain, type DevX402Json } from './dev.js'
