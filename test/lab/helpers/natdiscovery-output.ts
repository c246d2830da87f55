/**
 * Reads the verdicts that coturn's `turnutils_natdiscovery` prints. Pure
 * (table-tested in natdiscovery-output.spec.ts).
 */

import type { NatTruth } from '../../../src/lab/index.ts'

const KINDS = {
  'Endpoint Independent': 0,
  'Address Dependent': 1,
  'Address and Port Dependent': 2
} as const

const MAPPINGS: Array<NatTruth['mapping']> = ['EIM', 'ADM', 'APDM']
const FILTERINGS: Array<NatTruth['filtering']> = ['EIF', 'ADF', 'APDF']

/**
 * The mapping and filtering verdicts of `turnutils_natdiscovery -m -f`,
 * `unknown` where it printed none.
 */
export function parseNatDiscovery (output: string): { mapping: NatTruth['mapping'] | 'unknown', filtering: NatTruth['filtering'] | 'unknown' } {
  const mapping = output.match(/NAT with (Endpoint Independent|Address Dependent|Address and Port Dependent) Mapping!/)
  const filtering = output.match(/NAT with (Endpoint Independent|Address Dependent|Address and Port Dependent) Filtering!/)
  return {
    mapping: mapping != null ? MAPPINGS[KINDS[mapping[1] as keyof typeof KINDS]] : 'unknown',
    filtering: filtering != null ? FILTERINGS[KINDS[filtering[1] as keyof typeof KINDS]] : 'unknown'
  }
}

/**
 * Whether `turnutils_natdiscovery -H` saw its own request come back through
 * the NAT's public address.
 */
export function parseHairpinning (output: string): boolean {
  return /successful hairpinning/.test(output)
}

/**
 * Whether the binding was still open in `turnutils_natdiscovery -t -T <s>`.
 * The tool asks from a first socket, waits, then asks from a second socket
 * for an answer to the first socket's mapped port, and prints that answer
 * last ("STUN receive timeout.." when it never came). The first answer may
 * be printed before it.
 */
export function parseMappingLifetime (output: string): 'alive' | 'expired' | 'unknown' {
  const start = output.indexOf('Mapping Lifetime Behavior Discovery')
  if (start < 0) {
    return 'unknown'
  }
  const lines = output.slice(start).split('\n').map(line => line.trim()).filter(line => line !== '' && !/^=+$/.test(line))
  const last = lines[lines.length - 1] ?? ''
  if (/STUN receive timeout/.test(last)) {
    return 'expired'
  }
  if (/Local addr/.test(last)) {
    return 'alive'
  }
  return 'unknown'
}
