/**
 * Whether a NatProfile is enough to punch from and, when it is not (or only
 * partly), what the user should configure: one line the service can log as
 * a warning. Pure.
 */

import type { NatProfile } from './nat-profile.ts'

/**
 * - `ok`: nothing missing
 * - `no-stun-servers`: no public address, and no STUN server to ask
 * - `no-answer`: no public address although STUN servers were known
 * - `mapping-unknown`: a public address, but only one STUN destination
 * answered, so EIM and APDM look the same
 * - `allocation-unknown`: a dependent mapping (ADM/APDM) whose port
 * allocation is unknown, so no port can be predicted
 * - `filtering-unknown`: an endpoint-independent mapping whose filtering is
 * unknown (assumed APDF: the peer must be able to aim at our port)
 */
export type NatAdviceCode = 'ok' | 'no-stun-servers' | 'no-answer' | 'mapping-unknown' | 'allocation-unknown' | 'filtering-unknown'

export interface NatAdviceContext {
  /**
   * STUN servers the last discovery could ask (configured and found among
   * connected peers, after DNS)
   */
  serversKnown: number
}

export interface NatAdvice {
  /**
   * a punch can be planned: we are public, or we know a public address a
   * peer can aim at. False means a punch would send nothing: fall back to
   * the relay at once.
   */
  usable: boolean
  code: NatAdviceCode
  /** one line for the log: what is missing and what to configure (empty for `ok`) */
  message: string
}

const RELAY_HINT = 'connect to a relay that runs holePunch() (it answers STUN on two udx ports)'

/**
 * What the profile is missing for punching, most important first.
 */
export function natAdvice (profile: NatProfile, context: NatAdviceContext): NatAdvice {
  const servers = Math.max(0, Math.floor(context.serversKnown))

  if (profile.reachability === 'public') {
    return ok()
  }

  if (profile.publicAddresses.length === 0) {
    if (servers === 0) {
      return {
        usable: false,
        code: 'no-stun-servers',
        message: 'our public udx address is unknown, so hole punching falls back to the relay: no STUN server is known. ' +
          `Set stunServers (an IP or host name and port, e.g. { host: 'stun.example.org', port: 3478 }), or ${RELAY_HINT}`
      }
    }

    return {
      usable: false,
      code: 'no-answer',
      message: `our public udx address is unknown, so hole punching falls back to the relay: none of the ${servers} STUN server(s) answered on the udx socket. ` +
        'Check that outgoing UDP to them is not blocked, or configure others in stunServers'
    }
  }

  if (profile.mapping === 'unknown') {
    return {
      usable: true,
      code: 'mapping-unknown',
      message: 'the NAT mapping behaviour is unknown (only one STUN address answered, and one cannot tell a cone NAT from a symmetric one): ' +
        `add a STUN server on another host to stunServers, a second port of the same one, or ${RELAY_HINT}`
    }
  }

  if ((profile.mapping === 'APDM' || profile.mapping === 'ADM') && profile.allocation.kind === 'unknown') {
    return {
      usable: true,
      code: 'allocation-unknown',
      message: 'the NAT gives a new port per destination and its port allocation is unknown (fewer than 3 fresh-socket samples answered), so no port can be predicted: ' +
        'check that the STUN servers answer reliably, or add another'
    }
  }

  if (profile.mapping === 'EIM' && profile.filtering === 'unknown') {
    return {
      usable: true,
      code: 'filtering-unknown',
      message: 'the NAT filtering is unknown and assumed port-restricted: for the filtering test, use a STUN server that answers from a second port ' +
        `(an RFC 5780 server, or ${RELAY_HINT})`
    }
  }

  return ok()
}

function ok (): NatAdvice {
  return { usable: true, code: 'ok', message: '' }
}
