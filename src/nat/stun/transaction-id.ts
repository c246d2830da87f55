/**
 * STUN transaction ids: 96 random bits (RFC 8489 section 5)
 */

import { TRANSACTION_ID_LENGTH } from './message.ts'

/**
 * A fresh, cryptographically random transaction id
 */
export function createTransactionId (): Uint8Array {
  return globalThis.crypto.getRandomValues(new Uint8Array(TRANSACTION_ID_LENGTH))
}

/**
 * A map key for a transaction id (hex)
 */
export function transactionKey (id: Uint8Array): string {
  let out = ''

  for (let i = 0; i < id.length; i++) {
    out += id[i].toString(16).padStart(2, '0')
  }

  return out
}
