/**
 * @module adapters/rails/evm — stablecoin settlement on EVM chains (EIP-3009), the only place
 * besides EVM-signature verifiers that imports viem. Entry point: named re-exports only.
 */
export {
  createEvmRail,
  eip3009IntentFields,
  eip3009ReplayKey,
  EIP3009_REPLAY_NAMESPACE,
  isEvmRail,
  type CreateEvmRailOptions,
  type Eip3009Credential,
  type EvmChainConfig,
  type EvmFeeCaps,
  type EvmRail,
  type EvmTokenConfig,
  type EvmTokenInfo,
  type EvmVerifyAuthorizationParams,
} from './evmRail.js'
export { registerEvmRail, type EvmRailConfig, type RailFactoryContext } from './registerEvmRail.js'
export {
  eip3009Digest,
  parseEip3009Authorization,
  SignatureCache,
  transferWithAuthorizationArgs,
  VALID_BEFORE_MARGIN_SECONDS,
  verifyEip3009Authorization,
  type Eip3009Authorization,
  type Eip3009ChainReader,
  type Eip3009TokenDomain,
  type ParsedEip3009Authorization,
  type VerifyEip3009Parameters,
  type VerifyEip3009Result,
} from './verifyEip3009Authorization.js'
export { Eip3009Reason, reasonFromRevert, type Eip3009ReasonCode } from './reasons.js'
export { eip3009Abi, transferWithAuthorizationTypes } from './abi.js'
export { RpcUnavailableError } from './rpcPool.js'
