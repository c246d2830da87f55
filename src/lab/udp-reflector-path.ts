/**
 * Where the UDP reflector script is, for `host.spawnNode()`: the `.ts` file
 * when this module runs from src/, the `.js` file when it runs from dist/.
 */

import { fileURLToPath } from 'node:url'

const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js'

/**
 * Absolute path of the lab's UDP reflector (see udp-reflector.ts for its
 * protocol).
 *
 * @example
 * ```ts
 * const reflector = lab.host('stun').spawnNode(udpReflectorScript, ['203.0.113.10:3478'])
 * await reflector.waitForLine(/^ready$/)
 * ```
 */
export const udpReflectorScript: string = fileURLToPath(new URL(`./udp-reflector${extension}`, import.meta.url))
