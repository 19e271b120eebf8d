/** Agent wallets and budgets (issue 10): records, the wallets policy engine, management operations. */
export type { ReserveWalletSpendParams, ReserveWalletSpendResult, WalletLimits, WalletRecord, WalletSpend } from './types.js'
export { createWalletPolicy, crossedThresholds, remainingOf, spendAmountOf, walletForIntent, WALLET_REASONS, type WalletPolicyDeps } from './walletPolicy.js'
export {
  createWallet,
  revokeWalletConsent,
  updateWallet,
  walletView,
  type CreateWalletParameters,
  type ManageWalletsDeps,
  type UpdateWalletParameters,
  type WalletSettingsInput,
  type WalletView,
} from './manageWallets.js'
export { spendWindows } from './record.js'
