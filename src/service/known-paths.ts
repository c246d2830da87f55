import { KNOWN_PATH_TTL_MS, MAX_KNOWN_PATHS } from '../constants.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * The direct addresses at which we last reached peers, for a direct
 * attempt raced against the relay (happy eyeballs) the next time the
 * application connects to them. Only addresses of our own successful
 * direct connections go in: a peer's claims never do. Bounded LRU with a
 * time to live.
 */
export class KnownPaths {
  private readonly paths = new Map<string, { addr: Multiaddr, at: number }>()
  private readonly now: () => number

  constructor (now: () => number = Date.now) {
    this.now = now
  }

  remember (peer: string, addr: Multiaddr): void {
    this.paths.delete(peer)
    this.paths.set(peer, { addr, at: this.now() })

    if (this.paths.size > MAX_KNOWN_PATHS) {
      const oldest = this.paths.keys().next().value
      if (oldest != null) {
        this.paths.delete(oldest)
      }
    }
  }

  /** the peer's last direct address, if it is recent enough to try */
  get (peer: string): Multiaddr | undefined {
    const entry = this.paths.get(peer)

    if (entry == null) {
      return undefined
    }

    if (this.now() - entry.at > KNOWN_PATH_TTL_MS) {
      this.paths.delete(peer)
      return undefined
    }

    return entry.addr
  }

  forget (peer: string): void {
    this.paths.delete(peer)
  }
}
