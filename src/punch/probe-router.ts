import { isProbeDatagram, parseProbe } from './probe.ts'
import type { ProbeDatagram } from './probe.ts'
import type { BoundSocket } from '../socket/bound-socket.ts'
import type { DatagramHandler, RemoteInfo } from '../socket/datagram-socket.ts'

/**
 * One punch session's receiver of probe datagrams. It authenticates the
 * datagram itself (it holds the secret) and throws if it is not valid.
 */
export interface ProbeSession {
  receive(data: Uint8Array, probe: ProbeDatagram, from: RemoteInfo, socket: BoundSocket): void
}

/**
 * Routes probe datagrams by session id to the punch session they belong to.
 * Several sessions (punches towards several peers) can share one socket.
 * One router serves every socket of the pool.
 */
export class ProbeRouter {
  private readonly sessions = new Map<string, ProbeSession>()

  /**
   * The handler to install on a socket (see SocketPool.addSocketHandler)
   */
  handlerFor (socket: BoundSocket): DatagramHandler {
    return {
      name: 'probe',
      matches: (data) => isProbeDatagram(data),
      handle: (data, from) => {
        // structure first: throws InvalidProbeError, counted as 'probe-invalid'
        const probe = parseProbe(data)
        const session = this.sessions.get(sessionKey(probe.sessionId))

        if (session == null) {
          socket.drop('probe-unknown-session', from)
          return
        }

        // the session authenticates; a bad MAC throws and is counted
        session.receive(data, probe, from, socket)
      }
    }
  }

  add (sessionId: Uint8Array, session: ProbeSession): () => void {
    const key = sessionKey(sessionId)

    if (this.sessions.has(key)) {
      throw new Error('A punch session with this id is already running')
    }

    this.sessions.set(key, session)

    return () => {
      if (this.sessions.get(key) === session) {
        this.sessions.delete(key)
      }
    }
  }

  get size (): number {
    return this.sessions.size
  }
}

function sessionKey (sessionId: Uint8Array): string {
  return Buffer.from(sessionId.buffer, sessionId.byteOffset, sessionId.byteLength).toString('hex')
}
